//! A [`tracing-subscriber`](tracing_subscriber) layer: every `tracing` callsite becomes a
//! [dynamic event](crate::dynamic) that ftrace, perf and `lttng` each enable on their own, per
//! callsite, through its [enable word](crate::EnableWord) (feature `tracing`).
//!
//! ```no_run
//! use tracing_subscriber::prelude::*;
//!
//! tracing_subscriber::registry()
//!     .with(cotrace::tracing::layer())
//!     .with(tracing_subscriber::fmt::layer()) // other layers keep working
//!     .init();
//! tracing::info!(user = "ann", items = 3, "checkout");
//! ```
//!
//! [`layer`] calls [`init`](crate::init) (idempotent), so the program's `provider!` events are
//! registered too.
//!
//! # Names
//!
//! Each callsite is one event, defined when `tracing` registers the callsite (its first use),
//! and named from its metadata, the same way every run:
//!
//! | | LTTng | user_events |
//! | --- | --- | --- |
//! | event `info!` in target `shop::cart` at `src/cart.rs:42` (default name `event src/cart.rs:42`) | `shop_cart:event_src_cart_rs_42` | `shop_cart_event_src_cart_rs_42` |
//! | event with `name: "checkout"` | `shop_cart:checkout` | `shop_cart_checkout` |
//! | span `request` | `shop_cart:request_begin`, `shop_cart:request_end` | `shop_cart_request_begin`, `shop_cart_request_end` |
//!
//! The provider is the target, the event the callsite's name; every byte other than ASCII
//! letters, digits and `_` becomes `_` (so `::`, `/`, `.` and spaces do), a name that would be
//! empty or start with a digit gets a `t` (provider) or `e` (event) in front, and names are cut
//! so `provider:event` fits LTTng's 255 bytes. Field names are mapped the same way (`user.id`
//! is `user_id`); one starting with `_` or `common_` (refused by LTTng and ftrace) gets an `f`
//! in front. Two callsites of one name (a span `request` opened in two places) share their
//! event when their fields are the same; otherwise the later one gets `_l<line>` appended.
//! A callsite whose event cannot be defined is not traced (and shows nowhere).
//!
//! # Fields and what each tool shows
//!
//! user_events needs an event's format when it is registered, and `tracing` knows a field's
//! type only when a value is recorded, after registration. So **every field of a callsite is a
//! string** in both tracers: `tracing` gives the value and this layer renders it, integers in
//! decimal (`42`, `-7`), floats as Rust prints them (`2.5`), `true`/`false`, strings as they
//! are, and `Debug` values with `{:?}`. The message is the field `message`.
//!
//! | field kind in `tracing` | LTTng (babeltrace2) | ftrace `trace` / perf script |
//! | --- | --- | --- |
//! | `u64`, `i64`, `u128`, `i128` | string `"42"` | `n=42` |
//! | `f64` | string `"2.5"` | `x=2.5` |
//! | `bool` | string `"true"` | `ok=true` |
//! | `&str`, `Display` (`%x`), message | string | string |
//! | `Debug` (`?x`) | string, `{:?}` | string, `{:?}` |
//! | span ids (`span_id`, `parent_id` of span events) | unsigned 64-bit integer | `u64` |
//!
//! Filters therefore compare strings (`lttng enable-event --filter 'user == "ann"'`). LTTng's
//! `lttng_ust_type_dynamic` (a tagged variant) is not used: its use in event fields is
//! unverified in 2.13 and user_events has no counterpart. A field declared but not recorded
//! (`tracing::field::Empty`) is an empty string.
//!
//! # Levels and spans
//!
//! `ERROR`, `WARN`, `INFO`, `DEBUG` map to [`Level::Error`], [`Level::Warn`], [`Level::Info`],
//! [`Level::Debug`] (the LTTng loglevels `TRACE_ERR` ... `TRACE_DEBUG`); `TRACE` to
//! [`Level::Debug`] as well. A span's `<name>_begin` event is fired when the span is created,
//! with `span_id`, `parent_id` (0 for a root) and the span's fields; `<name>_end` when it
//! closes, with `span_id`. Ids are `tracing-subscriber`'s registry ids (reused after a span
//! closes, so a tree is read between a begin and its end).
//!
//! # Per-callsite enablement and its cost
//!
//! The layer comes with a per-layer [`Filter`](tracing_subscriber::layer::Filter) driven by
//! the words: `tracing` asks it once per callsite ([`Interest`]), and it answers `never` while
//! the callsite's word is 0 and `always` once a tracer enables it. `tracing` caches the answer
//! in the callsite, so a callsite nobody enables costs what a callsite an `EnvFilter` rejects
//! costs (one load of the cached interest and a branch), whatever the other layers do.
//!
//! The price is enable latency: the kernel sets its bit with no callback, so a thread polls the
//! words of the callsites every 50 ms, and when any word turns non-zero or zero it calls
//! [`rebuild_interest_cache`](tracing_core::callsite::rebuild_interest_cache). A callsite
//! enabled by ftrace or `lttng start` records from at most ~50 ms later (plus the rebuild);
//! the poller costs 20 wake-ups per second and a load per callsite. (With another layer
//! interested in the callsite, `tracing` asks the filter per event instead: a map lookup and a
//! load; the word then counts at once.)
//!
//! Composes with other layers (each has its own filter) and with a filter of its own
//! (`layer().with_filter(..)` is not needed: combine with `tracing_subscriber::filter` layers
//! as usual).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Once};
use std::time::Duration;

use arc_swap::ArcSwap;
use tracing_core::callsite::Identifier;
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Interest, Metadata, Subscriber};
use tracing_subscriber::filter::Filtered;
use tracing_subscriber::layer::{Context, Filter, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::dynamic::{DynamicError, EventBuilder};
use crate::event::Event;
use crate::field::{FieldKind, Value};
use crate::level::Level;

/// The layer, with the per-callsite filter that makes disabled callsites free; see the
/// [module docs](self).
pub fn layer<S>() -> Filtered<CotraceLayer, WordFilter, S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    crate::init();
    CotraceLayer { _private: () }.with_filter(WordFilter { _private: () })
}

/// Records each enabled `tracing` event and span to the tracers that enabled it. Made by
/// [`layer`].
#[derive(Debug)]
pub struct CotraceLayer {
    _private: (),
}

/// The per-layer filter of [`layer`]: a callsite is enabled exactly while its word is
/// non-zero.
#[derive(Debug)]
pub struct WordFilter {
    _private: (),
}

/// One callsite's events.
struct Callsite {
    /// The event (of an event callsite) or the span's begin event.
    event: &'static Event,
    /// The span's end event.
    end: Option<&'static Event>,
    /// Where each `tracing` field (by its index in the callsite's field set) goes among the
    /// event's fields.
    slots: Vec<usize>,
    /// Fields before the `tracing` ones (span ids of a begin event).
    lead: usize,
}

impl Callsite {
    fn is_enabled(&self) -> bool {
        self.event.is_enabled() || self.end.is_some_and(|e| e.is_enabled())
    }
}

type Map = HashMap<Identifier, Arc<Callsite>>;

/// Callsites defined so far: read on every recorded event, grown once per callsite.
fn callsites() -> &'static ArcSwap<Map> {
    static MAP: std::sync::OnceLock<ArcSwap<Map>> = std::sync::OnceLock::new();
    MAP.get_or_init(|| ArcSwap::from_pointee(Map::new()))
}

fn lookup(meta: &Metadata<'_>) -> Option<Arc<Callsite>> {
    callsites().load().get(&meta.callsite()).cloned()
}

/// `s` with every byte but ASCII letters, digits and `_` as `_`, `prefix` in front of an empty
/// name or one starting with a digit.
fn sanitize(s: &str, prefix: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if out.is_empty() || out.as_bytes()[0].is_ascii_digit() {
        out.insert_str(0, prefix);
    }
    out
}

fn field_name(s: &str) -> String {
    let mut out = sanitize(s, "f");
    if out.starts_with('_') || out.starts_with("common_") {
        out.insert(0, 'f');
    }
    out
}

fn level(level: &tracing_core::Level) -> Level {
    match *level {
        tracing_core::Level::ERROR => Level::Error,
        tracing_core::Level::WARN => Level::Warn,
        tracing_core::Level::INFO => Level::Info,
        _ => Level::Debug,
    }
}

/// The provider and event names of a callsite (see the [naming table](self#names)).
pub fn names(meta: &Metadata<'_>) -> (String, String) {
    let provider = sanitize(meta.target(), "t");
    let mut event = sanitize(meta.name(), "e");
    // The longest suffix added is `_begin` + `_l<line>`.
    let room = crate::macro_support::MAX_NAME_LEN.saturating_sub(provider.len() + 1 + 18);
    event.truncate(room.max(1));
    (provider, event)
}

/// Defines the events of a callsite, or finds those it shares; `None` when they cannot be
/// defined (a name the tracers refuse even after mapping).
fn define(meta: &'static Metadata<'static>) -> Option<Arc<Callsite>> {
    if let Some(found) = lookup(meta) {
        return Some(found);
    }
    let (provider, name) = names(meta);
    let mut seen: Vec<String> = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    let mut slots = Vec::new();
    for f in meta.fields() {
        let mut n = field_name(f.name());
        while seen.contains(&n) {
            n.push('_');
        }
        seen.push(n.clone());
        slots.push(fields.len());
        fields.push(n);
    }
    let build = |event: &str, lead: &[(&str, FieldKind)], with_fields: bool| {
        let mut b = EventBuilder::new(provider.as_str(), event)
            .level(level(meta.level()))
            .origin(meta.module_path().unwrap_or("tracing"));
        for (n, k) in lead {
            b = b.field(*n, *k);
        }
        if with_fields {
            for n in &fields {
                b = b.field(n.as_str(), FieldKind::Str);
            }
        }
        b
    };
    // Shares an event of the same name and fields; otherwise tries `_l<line>`.
    let define_one = |event: String, lead: &[(&str, FieldKind)], with_fields: bool| {
        let attempt = |name: &str| match build(name, lead, with_fields).register() {
            Ok(e) => Some(Ok(e)),
            Err(DynamicError::AlreadyDefined { existing }) => {
                Some(if same_fields(existing, lead, &fields, with_fields) {
                    Ok(existing)
                } else {
                    Err(())
                })
            }
            Err(_) => None,
        };
        match attempt(&event)? {
            Ok(e) => Some(e),
            Err(()) => {
                let line = meta.line().unwrap_or(0);
                attempt(&format!("{event}_l{line}"))?.ok()
            }
        }
    };
    let callsite = if meta.is_span() {
        let lead = [("span_id", FieldKind::U64), ("parent_id", FieldKind::U64)];
        let begin = define_one(format!("{name}_begin"), &lead, true)?;
        let end = define_one(format!("{name}_end"), &lead[..1], false)?;
        Callsite {
            event: begin,
            end: Some(end),
            slots: slots.iter().map(|s| s + 2).collect(),
            lead: 2,
        }
    } else {
        Callsite {
            event: define_one(name, &[], true)?,
            end: None,
            slots,
            lead: 0,
        }
    };
    let callsite = Arc::new(callsite);
    callsites().rcu(|map| {
        let mut map = Map::clone(map);
        map.insert(meta.callsite(), callsite.clone());
        map
    });
    start_poller();
    Some(callsite)
}

fn same_fields(
    existing: &Event,
    lead: &[(&str, FieldKind)],
    fields: &[String],
    with_fields: bool,
) -> bool {
    let want = lead.iter().map(|&(n, k)| (n.to_owned(), k)).chain(
        fields
            .iter()
            .filter(|_| with_fields)
            .map(|n| (n.clone(), FieldKind::Str)),
    );
    existing
        .desc()
        .fields
        .iter()
        .map(|f| (f.name.to_owned(), f.kind))
        .eq(want)
}

/// Starts the thread that tells `tracing` when a callsite's word turns zero or non-zero.
fn start_poller() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = std::thread::Builder::new()
            .name("cotrace-tracing".into())
            .spawn(|| {
                let mut last: HashMap<Identifier, bool> = HashMap::new();
                loop {
                    std::thread::sleep(Duration::from_millis(50));
                    let map = callsites().load_full();
                    let mut changed = false;
                    for (id, callsite) in map.iter() {
                        let now = callsite.is_enabled();
                        let before = last.insert(id.clone(), now);
                        // A callsite first seen off was answered `never` already.
                        if before != Some(now) && (before.is_some() || now) {
                            changed = true;
                        }
                    }
                    if changed {
                        tracing_core::callsite::rebuild_interest_cache();
                    }
                }
            });
    });
}

impl<S> Filter<S> for WordFilter {
    fn enabled(&self, meta: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        lookup(meta).is_some_and(|c| c.is_enabled())
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        match define(meta) {
            Some(c) if c.is_enabled() => Interest::always(),
            _ => Interest::never(),
        }
    }
}

/// The values of one record, rendered as strings in the event's field order.
struct Values {
    strings: Vec<String>,
    slots: Arc<Callsite>,
}

impl Visit for Values {
    fn record_debug(&mut self, field: &Field, value: &dyn core::fmt::Debug) {
        if let Some(s) = self.slot(field) {
            let _ = write!(s, "{value:?}");
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if let Some(s) = self.slot(field) {
            s.push_str(value);
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        if let Some(s) = self.slot(field) {
            let _ = write!(s, "{value}");
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        if let Some(s) = self.slot(field) {
            let _ = write!(s, "{value}");
        }
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        if let Some(s) = self.slot(field) {
            let _ = write!(s, "{value}");
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        if let Some(s) = self.slot(field) {
            let _ = write!(s, "{value}");
        }
    }
}

impl Values {
    fn new(callsite: Arc<Callsite>) -> Self {
        Self {
            strings: vec![String::new(); callsite.slots.len()],
            slots: callsite,
        }
    }

    fn slot(&mut self, field: &Field) -> Option<&mut String> {
        let position = *self.slots.slots.get(field.index())? - self.slots.lead;
        self.strings.get_mut(position)
    }

    fn fire(&self, lead: &[u64]) {
        let mut values: Vec<Value<'_>> = lead.iter().map(|&v| Value::U64(v)).collect();
        values.extend(self.strings.iter().map(|s| Value::Str(s)));
        let _ = self.slots.event.fire(&values);
    }
}

impl<S> Layer<S> for CotraceLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &tracing_core::Event<'_>, _: Context<'_, S>) {
        let Some(callsite) = lookup(event.metadata()) else {
            return;
        };
        if !callsite.event.is_enabled() {
            return;
        }
        let mut values = Values::new(callsite);
        event.record(&mut values);
        values.fire(&[]);
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(callsite) = lookup(attrs.metadata()) else {
            return;
        };
        if !callsite.event.is_enabled() {
            return;
        }
        let parent = ctx
            .span(id)
            .and_then(|s| s.parent().map(|p| p.id().into_u64()))
            .unwrap_or(0);
        let mut values = Values::new(callsite);
        attrs.record(&mut values);
        values.fire(&[id.into_u64(), parent]);
    }

    fn on_record(&self, _: &Id, _: &Record<'_>, _: Context<'_, S>) {}

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let Some(callsite) = lookup(span.metadata()) else {
            return;
        };
        if let Some(end) = callsite.end {
            let _ = end.fire(&[Value::U64(id.into_u64())]);
        }
    }
}
