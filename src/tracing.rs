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
//! Each callsite is its own event (two callsites never share one), defined when the callsite
//! is first used, and named from its metadata, the same way every run of the same binary:
//!
//! | `tracing` callsite (target `shop::cart`) | LTTng | user_events |
//! | --- | --- | --- |
//! | `info!` at `src/cart.rs:42` (default name `event src/cart.rs:42`) | `shop__cart:event_src_cart_rs_42` | `shop__cart_event_src_cart_rs_42` |
//! | `info!(name: "checkout", ..)` | `shop__cart:checkout` | `shop__cart_checkout` |
//! | `info!(name: "cache-hit", ..)` (a name the mapping changes) | `shop__cart:cache_hit_a7d26b9d` | `shop__cart_cache_hit_a7d26b9d` |
//! | `info_span!("request", ..)` | `shop__cart:request_begin`, `shop__cart:request_end` | `shop__cart_request_begin`, `shop__cart_request_end` |
//! | a second `info_span!("request", ..)` of that target, at line 90 | `shop__cart:request_begin_l90`, `shop__cart:request_end_l90` | `shop__cart_request_begin_l90`, `shop__cart_request_end_l90` |
//!
//! The rules ([`names`] gives a callsite's provider and event name):
//!
//! - The provider is the target, the event the callsite's name: every byte other than ASCII
//!   letters, digits and `_` becomes `_` (so `::` is `__`, and `/`, `.`, `-` and spaces are
//!   `_`); a name that would be empty or start with a digit gets a `t` (provider) or `e`
//!   (event) in front.
//! - An event name the mapping changed (`cache-hit`, `http.request`) gets `_` and 8 hex digits
//!   appended: the FNV-1a hash (32 bits) of the name as written, so `cache-hit` and `cache_hit`
//!   stay two events, under names that do not change between runs. `tracing`'s default names
//!   (`event <file>:<line>`) are exempt: their place already makes them unique.
//! - A provider longer than [`MAX_PROVIDER_LEN`] bytes is cut to that length and marked the
//!   same way (`_` and the hash of the whole target); an event name is cut (and marked) so
//!   that `provider:event` and its suffixes fit LTTng's 255 bytes.
//! - A name already taken by another event of the program (another callsite of the same name
//!   and target, a `provider!` event, or another mapping's result) gets `_l<line>` (the
//!   callsite's line) appended, then `_l<line>_2`, `_3`, ... The callsite that runs first keeps
//!   the plain name: when two callsites share a name and may run in either order, enable both
//!   with a wildcard (`lttng enable-event -u 'shop__cart:request_begin*'`).
//! - Field names are mapped the same way (`user.id` is `user_id`); one starting with `_` or
//!   `common_` (refused by LTTng and ftrace) gets an `f` in front; a name taken in the event
//!   (by another field, or, in a span, by the layer's own `span_id`, `parent_id` and
//!   `duration_ns`) gets `_` appended until it is free (a span's field `span_id` is
//!   `span_id_`).
//!
//! # Limits
//!
//! Every callsite that reaches the layer is recorded by every tracer that can take it:
//!
//! - At most 32 fields per event (cotrace's and user_events' limit): past that (with a span's
//!   two lead fields, past 30 of its own), the first ones keep their fields and the rest are
//!   folded into one string field `more`, `name=value` separated by spaces (`more="f30=30
//!   f31=31 round=1"`).
//! - user_events takes a description (`name type field; ...`) of at most 511 bytes; a wider
//!   event (a dozen string fields with longish names) is defined all the same: LTTng records
//!   it, the kernel's registration fails and [`status`](crate::status) says why for that event.
//! - What is still refused (a rule of the tracers that the mapping does not foresee) is
//!   counted ([`refused`]) and named, with the reason, in [`Status::refused`](crate::Status).
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
//! | `&[u8]` (`record_bytes`) | `Bytes` | sequence of `u8` | `__data_loc u8[]` |
//! | not recorded in the first record (`field::Empty`) | `Str` | string (empty until recorded) | string |
//! | span ids (`span_id`, `parent_id`), `duration_ns` of span events | `U64` | unsigned 64-bit integer | `u64` |
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
//! with `span_id`, `parent_id` (0 for a root) and the span's fields as they are then;
//! `<name>_end` when it closes, with `span_id`, `duration_ns` (from its creation to its close,
//! monotonic clock) and the span's fields as last recorded: a value given later with
//! `Span::record` (`info_span!("request", status = field::Empty)`, then
//! `span.record("status", 207)`) is on `_end` (a field left `Empty` at creation is a string
//! field, so `status = "207"`). Ids are `tracing-subscriber`'s registry ids (reused after a
//! span closes, so a tree is read between a begin and its end).
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
//! it. Defining `n` callsites costs O(n) in all: the layer's callsite table grows by doubling,
//! and a definition adds one entry in place (figure in the README).
//!
//! A child forked without `exec` has none of its parent's threads: a child fork hook
//! ([`cotrace_fork`], installed with the first poller) starts the child's own poller, so its callsites
//! keep following the tracers (LTTng attaching to the child, ftrace enabling an event). That
//! is one thread start per `fork` (none for `posix_spawn`, which `std::process::Command` uses
//! when it can).
//!
//! # Filters
//!
//! With the layer at every level, every callsite that runs (a dependency's `trace!` too)
//! becomes an event, kernel and LTTng, at its first use. To choose which callsites become
//! events at all, give the layer a filter of its own:
//!
//! ```no_run
//! use tracing_subscriber::{EnvFilter, prelude::*};
//!
//! tracing_subscriber::registry()
//!     .with(cotrace::tracing::layer().with_filter(EnvFilter::new("myapp=debug")))
//!     .init();
//! ```
//!
//! A callsite the filter rejects reaches neither the layer nor the tracers (no event is
//! defined for it); among the others, each records exactly while a tracer enables it, as
//! without the filter. A filter that rejects by level also lowers `tracing`'s max level, so a
//! callsite below it costs what it costs under that filter alone (`tracing_disabled` bench).
//!
//! It composes with other layers, each with its own filter: a `fmt` layer next to it sees every
//! event its own filter lets through, whatever cotrace's words say.

use std::cell::Cell;
use std::fmt::Write as _;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, ArcSwapOption};
use tracing_core::callsite::Identifier;
use tracing_core::dispatcher::{Dispatch, WeakDispatch};
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
use crate::macro_support::{MAX_FIELD_NAME_LEN, MAX_FIELDS, MAX_NAME_LEN};

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

/// Where one `tracing` field's value goes.
#[derive(Clone, Copy, Debug)]
enum Slot {
    /// Its own event field: the index among the callsite's values.
    Own(usize),
    /// Folded, as `name=value`, into the string value of this index (see the
    /// [limits](self#limits)).
    Folded(usize),
}

/// One callsite's events.
struct Callsite {
    /// The event (of an event callsite) or the span's begin event.
    event: &'static Event,
    /// The span's end event.
    end: Option<&'static Event>,
    /// Where each `tracing` field goes (by its index in the callsite's field set).
    slots: Vec<Slot>,
    /// The kind of each value, in the events' field order after their lead fields.
    kinds: Vec<FieldKind>,
}

impl Callsite {
    fn is_enabled(&self) -> bool {
        self.event.is_enabled() || self.end.is_some_and(|e| e.is_enabled())
    }
}

/// A callsite seen by the layer: defined, or refused (never traced). Leaked: `tracing`'s
/// callsites are `'static` too, and their events live for the process.
struct Entry {
    id: Identifier,
    callsite: Option<&'static Callsite>,
    /// Whether the poller last saw the callsite enabled (written by the poller only).
    seen_enabled: AtomicBool,
}

/// The callsites seen so far: an open-addressing hash table of leaked entries, read without a
/// lock on every record. An entry is added in place (one atomic store) under [`DEFINE`]; when
/// the table is half full a table twice its size replaces it, so defining `n` callsites costs
/// O(n) in all (each entry is copied at most once per doubling), not a copy of the whole map
/// per definition.
struct Table {
    slots: Box<[AtomicPtr<Entry>]>,
}

type Hash = BuildHasherDefault<AddressHasher>;

impl Table {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            slots: (0..capacity.next_power_of_two())
                .map(|_| AtomicPtr::new(core::ptr::null_mut()))
                .collect(),
        }
    }

    #[allow(unsafe_code)]
    fn slot(&self, index: usize) -> Option<&'static Entry> {
        let entry = self.slots[index].load(Ordering::Acquire);
        // SAFETY: a slot holds null or a pointer from `Box::leak` (see `insert`), never freed,
        // published with a release store that this acquire load pairs with.
        unsafe { entry.as_ref() }
    }

    fn find(&self, id: &Identifier) -> Option<&'static Entry> {
        let mask = self.slots.len() - 1;
        let mut i = (Hash::default().hash_one(id) as usize) & mask;
        loop {
            let entry = self.slot(i)?;
            if entry.id == *id {
                return Some(entry);
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds `entry` (the caller holds [`DEFINE`] and has left a free slot: the table is at
    /// most half full).
    fn insert(&self, entry: &'static Entry) {
        let mask = self.slots.len() - 1;
        let mut i = (Hash::default().hash_one(&entry.id) as usize) & mask;
        while self.slot(i).is_some() {
            i = (i + 1) & mask;
        }
        self.slots[i].store(core::ptr::from_ref(entry).cast_mut(), Ordering::Release);
    }

    fn entries(&self) -> impl Iterator<Item = &'static Entry> + '_ {
        (0..self.slots.len()).filter_map(|i| self.slot(i))
    }
}

/// Hashes an [`Identifier`] (a callsite's address and vtable) with a multiply and a rotate:
/// the keys are addresses, not attacker-chosen, and this table is read on every record.
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        // The high bits are the best mixed: fold them down for the mask.
        self.0 ^ (self.0 >> 32)
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

fn table() -> &'static ArcSwap<Table> {
    static TABLE: OnceLock<ArcSwap<Table>> = OnceLock::new();
    TABLE.get_or_init(|| ArcSwap::from_pointee(Table::with_capacity(64)))
}

/// Entries in [`table`]; written under [`DEFINE`].
static ENTRIES: AtomicUsize = AtomicUsize::new(0);

/// Adds a callsite's entry (the caller holds [`DEFINE`]): in place, or into a table twice the
/// size when this one would be more than half full.
fn add(entry: &'static Entry) {
    let count = ENTRIES.load(Ordering::Relaxed) + 1;
    let current = table().load_full();
    if count * 2 > current.slots.len() {
        let bigger = Table::with_capacity(current.slots.len() * 2);
        for e in current.entries() {
            bigger.insert(e);
        }
        bigger.insert(entry);
        table().store(Arc::new(bigger));
    } else {
        current.insert(entry);
    }
    ENTRIES.store(count, Ordering::Relaxed);
}

fn lookup(meta: &Metadata<'_>) -> Option<Option<&'static Callsite>> {
    table().load().find(&meta.callsite()).map(|e| e.callsite)
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

/// The longest provider name taken as is; a longer target is cut and marked (see the
/// [naming rules](self#names)).
pub const MAX_PROVIDER_LEN: usize = 100;

/// Room kept after an event's base name for the layer's suffixes: `_begin`, `_l` and a line,
/// `_` and a counter.
const SUFFIX_ROOM: usize = 24;

/// `_` and the FNV-1a hash (32 bits, 8 hex digits) of `s`: the mark of a name the mapping
/// changed, the same in every run.
fn mark(s: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    format!("_{h:08x}")
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

/// `name` cut to `max` bytes (ASCII: any cut is a char boundary) with the mark of `original`
/// at its end, when longer than `max`.
fn fit(mut name: String, original: &str, max: usize) -> String {
    if name.len() > max {
        let mark = mark(original);
        name.truncate(max.saturating_sub(mark.len()));
        name.push_str(&mark);
    }
    name
}

/// A `tracing` field name as both tracers take it (see the [naming rules](self#names)).
fn field_name(s: &str) -> String {
    let mut out = sanitize(s, "f");
    if out.starts_with('_') || out.starts_with("common_") {
        out.insert(0, 'f');
    }
    // Room for the `_`s that keep names unique.
    fit(out, s, MAX_FIELD_NAME_LEN - 4)
}

fn level(level: &tracing_core::Level) -> Level {
    match *level {
        tracing_core::Level::ERROR => Level::Error,
        tracing_core::Level::WARN => Level::Warn,
        tracing_core::Level::INFO => Level::Info,
        _ => Level::Debug,
    }
}

/// Whether `meta`'s name is `tracing`'s default for an event, `event <file>:<line>`: unique by
/// its place, so mapped without a mark.
fn is_default_name(meta: &Metadata<'_>) -> bool {
    let (Some(file), Some(line)) = (meta.file(), meta.line()) else {
        return false;
    };
    meta.name()
        .strip_prefix("event ")
        .and_then(|rest| rest.strip_prefix(file))
        .and_then(|rest| rest.strip_prefix(':'))
        .is_some_and(|l| l == line.to_string())
}

/// The provider and event names of a callsite (see the [naming table](self#names)), before the
/// `_begin`/`_end` of a span and any `_l<line>` that keeps it apart from another callsite.
pub fn names(meta: &Metadata<'_>) -> (String, String) {
    let provider = fit(
        sanitize(meta.target(), "t"),
        meta.target(),
        MAX_PROVIDER_LEN + 9,
    );
    let mut event = sanitize(meta.name(), "e");
    if event != meta.name() && !is_default_name(meta) {
        event.push_str(&mark(meta.name()));
    }
    let room = MAX_NAME_LEN - (provider.len() + 1) - SUFFIX_ROOM;
    (provider, fit(event, meta.name(), room))
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

/// Callsites whose events could not be defined, with why (see [`refused`]).
static REFUSED: AtomicU64 = AtomicU64::new(0);

/// How many callsites this layer could not define an event for (each is named, with the
/// reason, in [`status`](crate::status)'s `refused`). Zero unless a tracer's rule is broken
/// that the [mapping](self#names) does not foresee.
pub fn refused() -> u64 {
    REFUSED.load(Ordering::Relaxed)
}

/// Defines the events of a callsite from the kinds of its first record (`record` records it
/// into a visitor). `None`: refused (counted and named in [`status`](crate::status)).
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
    let callsite: Option<&'static Callsite> = match build_callsite(meta, &kinds) {
        Ok(c) => Some(Box::leak(Box::new(c))),
        Err(why) => {
            REFUSED.fetch_add(1, Ordering::Relaxed);
            let (provider, name) = names(meta);
            crate::status::refuse(
                format!(
                    "tracing {} `{}` (target `{}`, {}:{}) as {provider}:{name}",
                    if meta.is_span() { "span" } else { "event" },
                    meta.name(),
                    meta.target(),
                    meta.file().unwrap_or("?"),
                    meta.line().unwrap_or(0)
                ),
                why,
            );
            None
        }
    };
    add(Box::leak(Box::new(Entry {
        id: meta.callsite(),
        callsite,
        seen_enabled: AtomicBool::new(false),
    })));
    DEFINED.store(true, Ordering::Release);
    ensure_poller();
    callsite
}

/// The lead fields of a span's begin and end events, and the names a span's own fields may
/// not take.
const BEGIN_LEAD: [&str; 2] = ["span_id", "parent_id"];
const END_LEAD: [&str; 2] = ["span_id", "duration_ns"];
const SPAN_RESERVED: [&str; 3] = ["span_id", "parent_id", "duration_ns"];

/// The event fields of a callsite's values and where each `tracing` field goes: names mapped
/// and made unique (against `reserved` too) by appending `_`; past `room` fields, the last
/// ones folded into one string field `more`.
fn layout(
    meta: &Metadata<'_>,
    kinds: &[FieldKind],
    reserved: &[&str],
    room: usize,
) -> (Vec<(String, FieldKind)>, Vec<Slot>) {
    let n = kinds.len();
    let own = if n <= room { n } else { room - 1 };
    let mut taken: Vec<String> = reserved.iter().map(|s| (*s).to_owned()).collect();
    let mut fields = Vec::new();
    let mut unique = |mut name: String| {
        while taken.contains(&name) {
            name.push('_');
        }
        taken.push(name.clone());
        name
    };
    let mut slots = Vec::with_capacity(n);
    for (i, (f, &kind)) in meta.fields().iter().zip(kinds).enumerate() {
        if i < own {
            fields.push((unique(field_name(f.name())), kind));
            slots.push(Slot::Own(i));
        } else {
            slots.push(Slot::Folded(own));
        }
    }
    if own < n {
        fields.push((unique("more".to_owned()), FieldKind::Str));
    }
    (fields, slots)
}

fn build_callsite(
    meta: &'static Metadata<'static>,
    kinds: &[FieldKind],
) -> Result<Callsite, String> {
    let (provider, name) = names(meta);
    let span = meta.is_span();
    let (reserved, room): (&[&str], usize) = if span {
        (&SPAN_RESERVED, MAX_FIELDS - BEGIN_LEAD.len())
    } else {
        (&[], MAX_FIELDS)
    };
    let (fields, slots) = layout(meta, kinds, reserved, room);
    let value_kinds = fields.iter().map(|(_, k)| *k).collect();
    // A name taken by another event (another callsite of the same name, or a mapping that
    // met another): `_l<line>`, then `_l<line>_2`, `_3`...
    let define_one = |event: String, lead: &[&str]| -> Result<&'static Event, String> {
        let line = meta.line().unwrap_or(0);
        let mut last = String::new();
        for n in 0..100 {
            let candidate = match n {
                0 => event.clone(),
                1 => format!("{event}_l{line}"),
                n => format!("{event}_l{line}_{n}"),
            };
            let mut b = EventBuilder::new(provider.as_str(), candidate.as_str())
                .level(level(meta.level()))
                .origin(meta.module_path().unwrap_or("tracing"));
            for &l in lead {
                b = b.field(l, FieldKind::U64);
            }
            for (f, k) in &fields {
                b = b.field(f.as_str(), *k);
            }
            match b.register() {
                Ok(e) => return Ok(e),
                Err(
                    e
                    @ (DynamicError::AlreadyDefined { .. } | DynamicError::KernelNameTaken { .. }),
                ) => {
                    last = e.to_string();
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        Err(last)
    };
    Ok(if span {
        Callsite {
            event: define_one(format!("{name}_begin"), &BEGIN_LEAD)?,
            end: Some(define_one(format!("{name}_end"), &END_LEAD)?),
            slots,
            kinds: value_kinds,
        }
    } else {
        Callsite {
            event: define_one(name, &[])?,
            end: None,
            slots,
            kinds: value_kinds,
        }
    })
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

/// The process whose poller thread runs (0: none yet). A forked child finds its parent's id
/// here: it has no poller thread, and starts its own.
static POLLER_PID: AtomicU32 = AtomicU32::new(0);

/// The poller thread of this process, once started.
static POLLER: ArcSwapOption<std::thread::Thread> = ArcSwapOption::const_empty();

/// Starts the thread that tells `tracing` when callsites are defined and when their words turn
/// zero or non-zero, unless this process has it.
fn ensure_poller() {
    let me = std::process::id();
    let was = POLLER_PID.load(Ordering::Acquire);
    if was == me
        || POLLER_PID
            .compare_exchange(was, me, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
    {
        return;
    }
    let first = was == 0;
    // The parent's poller is not in this process: rebuild at once what the child caches.
    DEFINED.store(true, Ordering::Release);
    let spawned = std::thread::Builder::new()
        .name("cotrace-tracing".into())
        .spawn(poll);
    match spawned {
        Ok(handle) => POLLER.store(Some(Arc::new(handle.thread().clone()))),
        Err(_) => {
            // Retried at the next definition.
            POLLER_PID.store(was, Ordering::Release);
            return;
        }
    }
    if first {
        // LTTng's attach and detach are seen at once by cotrace-ust: they wake the poller
        // instead of waiting for its period (the kernel's bit has no such callback).
        #[cfg(feature = "lttng")]
        cotrace_ust::refcount::set_count_notifier(wake_poller);
        fork::install();
    }
}

fn poll() {
    loop {
        // Woken early by LTTng's attach or detach (`wake_poller`).
        std::thread::park_timeout(Duration::from_millis(POLL_MS.load(Ordering::Relaxed)));
        if POLLER_PID.load(Ordering::Acquire) != std::process::id() {
            return;
        }
        let mut changed = DEFINED.swap(false, Ordering::AcqRel);
        for entry in table().load().entries() {
            let now = entry.callsite.is_some_and(|c| c.is_enabled());
            if entry.seen_enabled.swap(now, Ordering::Relaxed) != now {
                changed = true;
            }
        }
        if changed {
            rebuild();
        }
    }
}

/// Wakes the poller: runs inside LTTng's session lock, so atomic loads and an unpark only.
#[cfg_attr(not(feature = "lttng"), allow(dead_code))]
fn wake_poller() {
    if let Some(poller) = POLLER.load().as_deref() {
        poller.unpark();
    }
}

/// A forked child (without `exec`) has none of its parent's threads, so no poller: a child
/// fork hook (cotrace's one fork mechanism, [`cotrace_fork`]) starts one, so that the child's
/// callsites keep following the tracers (LTTng attaching to the child, ftrace enabling an event
/// the child inherited).
mod fork {
    fn nothing() {}

    /// Runs after the adapters' child hooks. Spawning a thread in the child is fine: glibc's
    /// fork leaves malloc usable there, and the poller takes no lock a parent's thread may have
    /// held (the callsite table and the dispatcher list are read lock-free).
    static HOOKS: cotrace_fork::Hooks = cotrace_fork::Hooks {
        order: cotrace_fork::Order::Integration,
        prepare: nothing,
        parent: nothing,
        child: super::ensure_poller,
    };

    /// Installs the hook (once; the caller starts the first poller). Without it (the hook
    /// table full), a forked child's callsites keep what they were at the fork.
    pub(super) fn install() {
        let _ = cotrace_fork::register(&HOOKS);
    }
}

/// Dispatchers that hold this layer (weakly), from `on_register_dispatch`; read lock-free,
/// so that a forked child's poller never waits for a thread of its parent.
static DISPATCHES: ArcSwapOption<Vec<WeakDispatch>> = ArcSwapOption::const_empty();

/// Re-asks every dispatcher that holds this layer for the interest of every callsite.
///
/// [`rebuild_interest_cache`](tracing_core::callsite::rebuild_interest_cache) asks, while the
/// process has one dispatcher, the calling thread's default one: from the poller that is the
/// global default, not a dispatcher set with `with_default` on another thread (seen: a scoped
/// subscriber's callsites stayed `never`). So the poller makes each of ours its default while
/// it rebuilds.
fn rebuild() {
    let live: Vec<Dispatch> = DISPATCHES
        .load()
        .iter()
        .flat_map(|list| list.iter())
        .filter_map(WeakDispatch::upgrade)
        .collect();
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

/// The values of one record, in the event's field order (after its lead fields); returned to
/// the thread's scratch buffer when dropped.
struct Values {
    values: Vec<Owned>,
    callsite: &'static Callsite,
    /// A later record of a span's fields (`Span::record`): a value replaces the one before.
    replace: bool,
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
        Self {
            values,
            callsite,
            replace: false,
        }
    }

    /// The value of `field`, cleared first when it is replaced; a folded field gets its
    /// `name=` in the folded string.
    fn slot(&mut self, field: &Field) -> Option<&mut Owned> {
        match *self.callsite.slots.get(field.index())? {
            Slot::Own(i) => {
                let slot = self.values.get_mut(i)?;
                if self.replace {
                    match slot {
                        Owned::Str(s) => s.clear(),
                        Owned::Bytes(b) => b.clear(),
                        _ => {}
                    }
                }
                Some(slot)
            }
            Slot::Folded(i) => {
                let slot = self.values.get_mut(i)?;
                if let Owned::Str(s) = slot {
                    if !s.is_empty() {
                        s.push(' ');
                    }
                    s.push_str(field.name());
                    s.push('=');
                }
                Some(slot)
            }
        }
    }

    fn fire(&self, event: &'static Event, lead: &[u64]) {
        // On the stack: at most MAX_FIELDS values (the event was defined with them).
        let mut values = [Value::U8(0); MAX_FIELDS];
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
        // `tracing` hands the layer no address of the callsite's code (the event comes through
        // its dispatcher), so LTTng's `ip` context reads 0 rather than an address in here.
        if event.is_enabled() {
            let _ = event.fire_at(0, &values[..n]);
        }
        RECORDED.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for Values {
    fn drop(&mut self) {
        if self.values.capacity() > 0 {
            let values = core::mem::take(&mut self.values);
            let _ = SCRATCH.try_with(|scratch| scratch.set(values));
        }
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

/// A span's values as last recorded, and when it began: kept in the span's extensions for
/// its `_end` event.
struct SpanState {
    start: Instant,
    values: Vec<Owned>,
}

/// The callsite of `meta`, defined by this record if it is its first.
fn defined(
    meta: &'static Metadata<'static>,
    record: impl FnOnce(&mut Kinds),
) -> Option<&'static Callsite> {
    match lookup(meta) {
        Some(found) => found,
        None => define(meta, record),
    }
}

impl<S> Layer<S> for CotraceLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, dispatch: &Dispatch) {
        let weak = dispatch.downgrade();
        DISPATCHES.rcu(move |list| {
            let mut list: Vec<WeakDispatch> = list
                .iter()
                .flat_map(|list| list.iter())
                .filter(|d| d.upgrade().is_some())
                .cloned()
                .collect();
            list.push(weak.clone());
            Some(Arc::new(list))
        });
    }

    fn on_event(&self, event: &tracing_core::Event<'_>, _: Context<'_, S>) {
        let Some(callsite) = defined(event.metadata(), |kinds| event.record(kinds)) else {
            return;
        };
        if !callsite.event.is_enabled() {
            return;
        }
        let mut values = Values::new(callsite);
        event.record(&mut values);
        values.fire(callsite.event, &[]);
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(callsite) = defined(attrs.metadata(), |kinds| attrs.record(kinds)) else {
            return;
        };
        let mut values = Values::new(callsite);
        attrs.record(&mut values);
        let span = ctx.span(id);
        if callsite.event.is_enabled() {
            let parent = span
                .as_ref()
                .and_then(|s| s.parent().map(|p| p.id().into_u64()))
                .unwrap_or(0);
            values.fire(callsite.event, &[id.into_u64(), parent]);
        }
        if let Some(span) = span {
            span.extensions_mut().insert(SpanState {
                start: Instant::now(),
                values: core::mem::take(&mut values.values),
            });
        }
    }

    fn on_record(&self, id: &Id, record: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let Some(Some(callsite)) = lookup(span.metadata()) else {
            return;
        };
        let mut extensions = span.extensions_mut();
        let Some(state) = extensions.get_mut::<SpanState>() else {
            return;
        };
        let mut values = Values {
            values: core::mem::take(&mut state.values),
            callsite,
            replace: true,
        };
        record.record(&mut values);
        state.values = core::mem::take(&mut values.values);
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let Some(Some(callsite)) = lookup(span.metadata()) else {
            return;
        };
        let Some(state) = span.extensions_mut().remove::<SpanState>() else {
            return;
        };
        if let Some(end) = callsite.end.filter(|e| e.is_enabled()) {
            let duration = u64::try_from(state.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
            let values = Values {
                values: state.values,
                callsite,
                replace: false,
            };
            values.fire(end, &[id.into_u64(), duration]);
        }
    }
}
