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
//! # Fields: typed by the first record
//!
//! user_events needs an event's format when it is registered, and `tracing` tells a field's
//! type only when a value is recorded (`Visit::record_u64`, ...). `tracing` registers a callsite
//! at its first use, just before that first use records its values, so this layer defines the
//! callsite's event **from its first record**: it answers `sometimes` for a callsite not yet
//! defined, takes the first event (or span creation) it sees, defines the event with the types
//! of the values recorded there, and records it at once if a tracer already wants it (an LTTng
//! session enabling `provider:*` does, from the moment the event is registered). A callsite's
//! values have the types of its Rust expressions, the same at every use, so the format fits
//! every later record. What each tool shows:
//!
//! | recorded as (`tracing`) | [`FieldKind`] | LTTng (babeltrace2) | ftrace `trace` / perf script |
//! | --- | --- | --- | --- |
//! | `u64` (and smaller unsigned) | `U64` | unsigned 64-bit integer | `u64` (`n=0x3 (3)`) |
//! | `i64` (and smaller signed) | `I64` | signed 64-bit integer | `s64` (printed unsigned, see [the crate docs](crate#with-ftrace-perf-and-trace-cmd)) |
//! | `f64`, `f32` | `F64` | double | `u64`: the IEEE-754 bits (user_events has no float) |
//! | `bool` | `Bool` | 8-bit unsigned 0/1 | `u8` 0/1 |
//! | `&str`, `%display`, `?debug`, the message, `u128`/`i128`, errors | `Str` | string | string |
//! | `&[u8]` (`record_bytes`) | `Bytes` | sequence of `u8` | `__rel_loc u8[]` |
//! | not recorded in the first record (`field::Empty`) | `Str` | string (empty until recorded) | string |
//! | span ids (`span_id`, `parent_id` of span events) | `U64` | unsigned 64-bit integer | `u64` |
//!
//! A later value that does not fit its field (possible only for a field first left `Empty`,
//! or recorded by hand with another type) is converted when that loses nothing (an `i64` of
//! 5 into a `U64` field, an integer into an `F64` one, anything into a `Str` one, rendered as
//! `Debug`); otherwise the field is recorded as 0. LTTng's `lttng_ust_type_dynamic` (a
//! tagged variant) is not used: its use in event fields is unverified in 2.13, and user_events
//! has no counterpart.
//!
//! The event is listed by `lttng list -u` and `user_events_status` once its callsite has run
//! once (as with `tracing` itself, which knows a callsite from its first use): to enable a
//! callsite by name with perf or trace-cmd, which refuse unknown events, run it once first, or
//! enable by wildcard in LTTng.
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
//! The layer comes with a per-layer `Filter` driven by
//! the words: `tracing` asks it once per callsite ([`Interest`]), and once the callsite's event
//! is defined it answers `never` while the word is 0 and `always` once a tracer enables it
//! (`sometimes` before, until the first record defines the event). `tracing` caches the answer
//! in the callsite, so a callsite nobody enables costs what a callsite an `EnvFilter` rejects
//! costs (one load of the cached interest and a branch), whatever the other layers do.
//!
//! Measured (`cargo bench --features tracing --bench tracing_disabled`, 2-core host, one
//! process per row, median of 9 rounds): no subscriber 0.68 ns per call, an `EnvFilter`
//! rejecting by level 0.68, by target 0.76, this layer with the callsite off 0.76 (also next to
//! a `fmt` layer with its own `EnvFilter`). An `EnvFilter` that rejects by level lowers
//! `tracing`'s global max level, which rejects the callsite before its cached interest is even
//! loaded; this layer must see each callsite's first use (to define its event), so it leaves
//! the max level open and rejects by the cached interest: one load more. An enabled callsite
//! costs the layer ~100-120 ns before a tracer writes (two map lookups, `tracing` recording
//! the values, the message rendered into a per-thread buffer that is reused). In the VM under
//! TCG (`scripts/bench-tracing.sh`, figures ~10-20x the host's): the layer with no tracer 1829
//! ns, enabled by LTTng 4363, by ftrace 5306, a `fmt` layer writing to `io::sink` 9000.
//!
//! The price is enable latency: the kernel sets its bit with no callback, so a thread polls the
//! words of the callsites every 50 ms, and when any word turns non-zero or zero it calls
//! [`rebuild_interest_cache`](tracing_core::callsite::rebuild_interest_cache). A callsite
//! enabled by ftrace or `lttng start` records from at most ~50 ms later (plus the rebuild);
//! the poller costs 20 wake-ups per second and a load per callsite; [`set_poll_interval`]
//! trades one for the other. The alternative, answering `sometimes` for every callsite and
//! reading the word in the filter's `enabled`, would make the word count at once but cost
//! every disabled callsite a dynamic call, a map lookup and a load on each use, which is what
//! tracing-etw pays. LTTng's attach and detach are seen synchronously by cotrace-ust (its
//! count changes inside LTTng's session lock), which wakes the poller at once
//! ([`cotrace_ust::refcount::set_count_notifier`]): a callsite enabled by `lttng start` records
//! as soon as the poller has rebuilt the cache, whatever its period; only the kernel's bit
//! waits for the period.
//! (With another layer interested in the callsite, `tracing` asks the filter per event anyway:
//! a map lookup and a load; the word then counts at once.)
//!
//! A callsite's first use defines and registers its event, once: a lock, and with a running
//! LTTng session a round trip to the session daemon (milliseconds), on the thread that uses
//! it. A child forked without `exec` has no poller thread: its callsites keep the interest they
//! had at the fork.
//!
//! It composes with other layers, each with its own filter: a `fmt` layer next to it sees every
//! event its own filter lets through, whatever cotrace's words say.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, Once, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use tracing_core::callsite::Identifier;
use tracing_core::dispatcher::{Dispatch, WeakDispatch};
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id};
use tracing_core::{Interest, Metadata, Subscriber};
use tracing_subscriber::filter::Filtered;
use tracing_subscriber::layer::{Context, Filter, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::dynamic::{DynamicError, EventBuilder};
use crate::event::Event;
use crate::field::{FieldKind, Value};
use crate::level::Level;

/// The layer, with the per-callsite filter that makes disabled callsites free; see the
/// [module docs](self). Calls [`init`](crate::init).
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

/// The per-layer filter of [`layer`]: a defined callsite is enabled exactly while its word is
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
    /// The kind of each `tracing` field (by its index in the callsite's field set).
    kinds: Vec<FieldKind>,
}

impl Callsite {
    fn is_enabled(&self) -> bool {
        self.event.is_enabled() || self.end.is_some_and(|e| e.is_enabled())
    }
}

/// A callsite's state: defined, or refused (never traced). Absent: not defined yet. Callsites
/// are leaked: `tracing`'s are `'static` too, and their events live for the process.
type Map = HashMap<Identifier, Option<&'static Callsite>, BuildHasherDefault<AddressHasher>>;

/// Hashes an [`Identifier`] (a callsite's address and vtable) with a multiply and a rotate:
/// the keys are addresses, not attacker-chosen, and this map is read on every record.
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(26) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

/// Callsites seen so far: read on every record, grown once per callsite.
fn callsites() -> &'static ArcSwap<Map> {
    static MAP: OnceLock<ArcSwap<Map>> = OnceLock::new();
    MAP.get_or_init(|| ArcSwap::from_pointee(Map::default()))
}

fn lookup(meta: &Metadata<'_>) -> Option<Option<&'static Callsite>> {
    callsites().load().get(&meta.callsite()).copied()
}

/// Records handed to the tracers (see [`recorded`]).
static RECORDED: AtomicU64 = AtomicU64::new(0);

/// How many `tracing` events and span begin/end events this layer has handed to the tracers
/// (at least one wanted each), since the process started.
pub fn recorded() -> u64 {
    RECORDED.load(Ordering::Relaxed)
}

/// Set when a callsite is defined: the poller then rebuilds `tracing`'s interest cache, so
/// the callsite's `sometimes` becomes `never` or `always`.
static DEFINED: AtomicBool = AtomicBool::new(false);

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

/// A `tracing` field name as both tracers take it (see the [naming rules](self#names)).
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

/// The provider and event names of a callsite (see the [naming table](self#names)), before the
/// `_begin`/`_end` of a span and any `_l<line>`.
pub fn names(meta: &Metadata<'_>) -> (String, String) {
    let provider = sanitize(meta.target(), "t");
    let mut event = sanitize(meta.name(), "e");
    // Room for the longest suffix: `_begin` and `_l` with a 10-digit line.
    let room = crate::macro_support::MAX_NAME_LEN.saturating_sub(provider.len() + 1 + 18);
    event.truncate(room.max(1));
    (provider, event)
}

/// The kinds of the values of a first record.
struct Kinds(Vec<Option<FieldKind>>);

impl Kinds {
    fn set(&mut self, field: &Field, kind: FieldKind) {
        if let Some(slot) = self.0.get_mut(field.index()) {
            *slot = Some(kind);
        }
    }
}

impl Visit for Kinds {
    fn record_debug(&mut self, field: &Field, _: &dyn core::fmt::Debug) {
        self.set(field, FieldKind::Str);
    }
    fn record_f64(&mut self, field: &Field, _: f64) {
        self.set(field, FieldKind::F64);
    }
    fn record_i64(&mut self, field: &Field, _: i64) {
        self.set(field, FieldKind::I64);
    }
    fn record_u64(&mut self, field: &Field, _: u64) {
        self.set(field, FieldKind::U64);
    }
    fn record_bool(&mut self, field: &Field, _: bool) {
        self.set(field, FieldKind::Bool);
    }
    fn record_str(&mut self, field: &Field, _: &str) {
        self.set(field, FieldKind::Str);
    }
    fn record_bytes(&mut self, field: &Field, _: &[u8]) {
        self.set(field, FieldKind::Bytes);
    }
}

/// Serialises definitions, so two threads' first records of one callsite define it once.
/// Fork-aware: a child forked during a definition does not wait for its parent's thread.
static DEFINE: cotrace_fork::Lock = cotrace_fork::Lock::new();

/// Defines the events of a callsite from the kinds of its first record (`record` records it
/// into a visitor), or finds those it shares with another callsite of the same name and
/// fields. `None`: refused (a name the tracers refuse even after mapping); never traced.
fn define(
    meta: &'static Metadata<'static>,
    record: impl FnOnce(&mut Kinds),
) -> Option<&'static Callsite> {
    let _serial = DEFINE.lock();
    if let Some(found) = lookup(meta) {
        return found;
    }
    let mut kinds = Kinds(vec![None; meta.fields().len()]);
    record(&mut kinds);
    let kinds: Vec<FieldKind> = kinds
        .0
        .into_iter()
        .map(|k| k.unwrap_or(FieldKind::Str))
        .collect();
    let callsite: Option<&'static Callsite> =
        build_callsite(meta, kinds).map(|c| &*Box::leak(Box::new(c)));
    callsites().rcu(move |map| {
        let mut map = Map::clone(map);
        map.insert(meta.callsite(), callsite);
        map
    });
    DEFINED.store(true, Ordering::Release);
    start_poller();
    callsite
}

fn build_callsite(meta: &'static Metadata<'static>, kinds: Vec<FieldKind>) -> Option<Callsite> {
    let (provider, name) = names(meta);
    let mut fields: Vec<(String, FieldKind)> = Vec::new();
    for (f, &kind) in meta.fields().iter().zip(&kinds) {
        let mut n = field_name(f.name());
        while fields.iter().any(|(o, _)| *o == n) {
            n.push('_');
        }
        fields.push((n, kind));
    }
    let builder = |event: &str, lead: &[(&str, FieldKind)], with_fields: bool| {
        let mut b = EventBuilder::new(provider.as_str(), event)
            .level(level(meta.level()))
            .origin(meta.module_path().unwrap_or("tracing"));
        for &(n, k) in lead {
            b = b.field(n, k);
        }
        if with_fields {
            for (n, k) in &fields {
                b = b.field(n.as_str(), *k);
            }
        }
        b
    };
    // Shares an event of the same name and fields; otherwise tries `_l<line>`.
    let define_one = |event: String, lead: &[(&str, FieldKind)], with_fields: bool| {
        let want: Vec<(&str, FieldKind)> = lead
            .iter()
            .copied()
            .chain(
                fields
                    .iter()
                    .filter(|_| with_fields)
                    .map(|(n, k)| (n.as_str(), *k)),
            )
            .collect();
        let attempt = |name: &str| match builder(name, lead, with_fields).register() {
            Ok(e) => Some(Ok(e)),
            Err(DynamicError::AlreadyDefined { existing }) => {
                let same = existing
                    .desc()
                    .fields
                    .iter()
                    .map(|f| (f.name, f.kind))
                    .eq(want.iter().copied());
                Some(if same { Ok(existing) } else { Err(()) })
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
    if meta.is_span() {
        let lead = [("span_id", FieldKind::U64), ("parent_id", FieldKind::U64)];
        Some(Callsite {
            event: define_one(format!("{name}_begin"), &lead, true)?,
            end: Some(define_one(format!("{name}_end"), &lead[..1], false)?),
            kinds,
        })
    } else {
        Some(Callsite {
            event: define_one(name, &[], true)?,
            end: None,
            kinds,
        })
    }
}

/// The poller's period in milliseconds (see [`set_poll_interval`]).
static POLL_MS: AtomicU64 = AtomicU64::new(50);

/// Sets how often the layer's poller looks at the callsites' words (default 50 ms, at least
/// 1 ms): the bound on the delay between a tracer enabling a callsite and `tracing` passing its
/// events to this layer, against wake-ups of the poller thread (see
/// [the module docs](self#per-callsite-enablement-and-its-cost)).
pub fn set_poll_interval(interval: Duration) {
    let ms = u64::try_from(interval.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    POLL_MS.store(ms, Ordering::Relaxed);
}

/// Starts the thread that tells `tracing` when callsites are defined and when their words turn
/// zero or non-zero.
fn start_poller() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let spawned = std::thread::Builder::new()
            .name("cotrace-tracing".into())
            .spawn(|| {
                let mut last: HashMap<Identifier, bool> = HashMap::new();
                loop {
                    // Woken early by LTTng's attach or detach (`wake_poller`).
                    std::thread::park_timeout(Duration::from_millis(
                        POLL_MS.load(Ordering::Relaxed),
                    ));
                    let mut changed = DEFINED.swap(false, Ordering::AcqRel);
                    let map = callsites().load_full();
                    for (id, callsite) in map.iter() {
                        let now = callsite.as_ref().is_some_and(|c| c.is_enabled());
                        if last.insert(id.clone(), now) != Some(now) {
                            changed = true;
                        }
                    }
                    if changed {
                        rebuild();
                    }
                }
            });
        if let Ok(handle) = spawned {
            let _ = POLLER.set(handle.thread().clone());
            // LTTng's attach and detach are seen at once by cotrace-ust: they wake the poller
            // instead of waiting for its period (the kernel's bit has no such callback).
            #[cfg(feature = "lttng")]
            cotrace_ust::refcount::set_count_notifier(wake_poller);
        }
    });
}

/// The poller thread, once started.
static POLLER: OnceLock<std::thread::Thread> = OnceLock::new();

/// Wakes the poller: runs inside LTTng's session lock, so an atomic load and an unpark only.
#[cfg_attr(not(feature = "lttng"), allow(dead_code))]
fn wake_poller() {
    if let Some(poller) = POLLER.get() {
        poller.unpark();
    }
}

/// Dispatchers that hold this layer (weakly), from `on_register_dispatch`.
static DISPATCHES: Mutex<Vec<WeakDispatch>> = Mutex::new(Vec::new());

/// Re-asks every dispatcher that holds this layer for the interest of every callsite.
///
/// [`rebuild_interest_cache`](tracing_core::callsite::rebuild_interest_cache) asks, while the
/// process has one dispatcher, the calling thread's default one: from the poller that is the
/// global default, not a dispatcher set with `with_default` on another thread (seen: a scoped
/// subscriber's callsites stayed `never`). So the poller makes each of ours its default while
/// it rebuilds.
fn rebuild() {
    let live: Vec<Dispatch> = {
        let mut dispatches = DISPATCHES.lock().unwrap_or_else(|p| p.into_inner());
        dispatches.retain(|d| d.upgrade().is_some());
        dispatches
            .iter()
            .filter_map(WeakDispatch::upgrade)
            .collect()
    };
    if live.is_empty() {
        tracing_core::callsite::rebuild_interest_cache();
    }
    for dispatch in &live {
        tracing_core::dispatcher::with_default(dispatch, || {
            tracing_core::callsite::rebuild_interest_cache();
        });
    }
}

impl<S> Filter<S> for WordFilter {
    fn enabled(&self, meta: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        match lookup(meta) {
            Some(Some(c)) => c.is_enabled(),
            Some(None) => false,
            // Not defined yet: its first record defines it.
            None => true,
        }
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        match lookup(meta) {
            Some(Some(c)) if c.is_enabled() => Interest::always(),
            Some(_) => Interest::never(),
            None => Interest::sometimes(),
        }
    }
}

/// One field's value, converted to its field's kind.
enum Owned {
    U64(u64),
    I64(i64),
    F64(f64),
    Bool(bool),
    Str(String),
    Bytes(Vec<u8>),
}

/// The values of one record, in the event's field order; returned to the thread's scratch
/// buffer when dropped.
struct Values {
    values: Vec<Owned>,
    callsite: &'static Callsite,
}

thread_local! {
    /// Each thread's values of its last record, kept for their strings' capacity.
    static SCRATCH: Cell<Vec<Owned>> = const { Cell::new(Vec::new()) };
}

impl Values {
    /// Values for a record of `callsite`, each its field kind's zero, reusing this thread's
    /// buffers (a record made while another is being made, from a `Debug` impl, gets new
    /// ones).
    fn new(callsite: &'static Callsite) -> Self {
        let mut values = SCRATCH.with(Cell::take);
        values.truncate(callsite.kinds.len());
        for (i, kind) in callsite.kinds.iter().enumerate() {
            let fresh = || match kind {
                FieldKind::U64 => Owned::U64(0),
                FieldKind::I64 => Owned::I64(0),
                FieldKind::F64 => Owned::F64(0.0),
                FieldKind::Bool => Owned::Bool(false),
                FieldKind::Bytes => Owned::Bytes(Vec::new()),
                _ => Owned::Str(String::new()),
            };
            match values.get_mut(i) {
                Some(Owned::Str(s)) if *kind == FieldKind::Str => s.clear(),
                Some(Owned::Bytes(b)) if *kind == FieldKind::Bytes => b.clear(),
                Some(slot) => *slot = fresh(),
                None => values.push(fresh()),
            }
        }
        Self { values, callsite }
    }

    fn slot(&mut self, field: &Field) -> Option<&mut Owned> {
        self.values.get_mut(field.index())
    }

    fn fire(&self, lead: &[u64]) {
        // On the stack: at most MAX_FIELDS values (the event was defined with them).
        let mut values = [Value::U8(0); crate::macro_support::MAX_FIELDS];
        let n = (lead.len() + self.values.len()).min(values.len());
        let owned = self.values.iter().map(|v| match v {
            Owned::U64(v) => Value::U64(*v),
            Owned::I64(v) => Value::I64(*v),
            Owned::F64(v) => Value::F64(*v),
            Owned::Bool(v) => Value::Bool(*v),
            Owned::Str(s) => Value::Str(s),
            Owned::Bytes(b) => Value::Bytes(b),
        });
        for (slot, value) in values
            .iter_mut()
            .zip(lead.iter().map(|&v| Value::U64(v)).chain(owned))
        {
            *slot = value;
        }
        let _ = self.callsite.event.fire(&values[..n]);
        RECORDED.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for Values {
    fn drop(&mut self) {
        let values = core::mem::take(&mut self.values);
        let _ = SCRATCH.try_with(|scratch| scratch.set(values));
    }
}

impl Visit for Values {
    fn record_debug(&mut self, field: &Field, value: &dyn core::fmt::Debug) {
        if let Some(Owned::Str(s)) = self.slot(field) {
            let _ = write!(s, "{value:?}");
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        match self.slot(field) {
            Some(Owned::Str(s)) => s.push_str(value),
            Some(Owned::Bytes(b)) => b.extend_from_slice(value.as_bytes()),
            _ => {}
        }
    }
    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        match self.slot(field) {
            Some(Owned::Bytes(b)) => b.extend_from_slice(value),
            Some(Owned::Str(s)) => {
                let _ = write!(s, "{value:?}");
            }
            _ => {}
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        match self.slot(field) {
            Some(Owned::I64(v)) => *v = value,
            Some(Owned::U64(v)) => *v = u64::try_from(value).unwrap_or(0),
            Some(Owned::F64(v)) => *v = value as f64,
            Some(Owned::Str(s)) => {
                let _ = write!(s, "{value}");
            }
            _ => {}
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        match self.slot(field) {
            Some(Owned::U64(v)) => *v = value,
            Some(Owned::I64(v)) => *v = i64::try_from(value).unwrap_or(0),
            Some(Owned::F64(v)) => *v = value as f64,
            Some(Owned::Str(s)) => {
                let _ = write!(s, "{value}");
            }
            _ => {}
        }
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        match self.slot(field) {
            Some(Owned::F64(v)) => *v = value,
            Some(Owned::Str(s)) => {
                let _ = write!(s, "{value}");
            }
            _ => {}
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        match self.slot(field) {
            Some(Owned::Bool(v)) => *v = value,
            Some(Owned::U64(v)) => *v = u64::from(value),
            Some(Owned::I64(v)) => *v = i64::from(value),
            Some(Owned::Str(s)) => {
                let _ = write!(s, "{value}");
            }
            _ => {}
        }
    }
}

impl<S> Layer<S> for CotraceLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, dispatch: &Dispatch) {
        DISPATCHES
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(dispatch.downgrade());
    }

    fn on_event(&self, event: &tracing_core::Event<'_>, _: Context<'_, S>) {
        let callsite = match lookup(event.metadata()) {
            Some(Some(c)) => c,
            Some(None) => return,
            None => match define(event.metadata(), |kinds| event.record(kinds)) {
                Some(c) => c,
                None => return,
            },
        };
        if !callsite.event.is_enabled() {
            return;
        }
        let mut values = Values::new(callsite);
        event.record(&mut values);
        values.fire(&[]);
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let callsite = match lookup(attrs.metadata()) {
            Some(Some(c)) => c,
            Some(None) => return,
            None => match define(attrs.metadata(), |kinds| attrs.record(kinds)) {
                Some(c) => c,
                None => return,
            },
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

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        if let Some(Some(callsite)) = lookup(span.metadata()) {
            if let Some(end) = callsite.end.filter(|e| e.is_enabled()) {
                let _ = end.fire(&[Value::U64(id.into_u64())]);
                RECORDED.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
