//! The probe callback: what stage 5 of LTTng-UST's `ust-tracepoint-event.h` generates for a C
//! provider, written once for every cotrace event, and the call-site side that invokes it.
//!
//! For each attached `(callback, data)` pair of a call site, `data` is LTTng's event object
//! (`struct lttng_ust_event_common`), whose `type` says what to do:
//!
//! - recorder (a session's event): return unless the session is active, the channel enabled
//!   and the event enabled; run the filter if one is set; reserve room in the channel's ring
//!   buffer, write each field, commit;
//! - notifier (a trigger's event): return unless enabled; run the filter; send the
//!   notification (with the interpreter stack when captures are requested);
//! - anything else (counters, in versions after 2.13): nothing.
//!
//! # Layout of the recorded payload
//!
//! Fields follow each other in order. On x86 and PowerPC, LTTng packs the ring buffer
//! (alignment 1, as `lttng_ust_rb_alignof` says there); elsewhere each field is aligned to its
//! natural alignment. Integers and floats are native-endian; a string is its bytes up to the
//! first NUL plus a NUL; `Bytes` is a `u32` length then the bytes; `ByteArray(n)` is `n` bytes.
//!
//! On packed ring buffers a payload of at most 256 bytes is laid out on the stack and written
//! with one `event_write` call rather than one call per field (same bytes in the buffer, fewer
//! calls into liblttng-ust); larger payloads and other architectures write field by field,
//! with the C probe's `event_write`/`event_strcpy` calls and alignments.
//!
//! # Layout of the filter interpreter stack
//!
//! As LTTng's bytecode linker expects (`apply_field_reloc` in `lttng-bytecode.c`): per field,
//! integers (and bools) widened to 64 bits, floats as `double`, strings as a pointer to a
//! NUL-terminated copy, byte fields as an `unsigned long` length and a pointer.

use core::ffi::{c_char, c_int, c_void};
use core::ptr;
use core::sync::atomic::{AtomicI32, AtomicPtr, Ordering};

use cotrace_lttng_sys::{
    lttng_ust_event_common,
    lttng_ust_event_filter_result::LTTNG_UST_EVENT_FILTER_ACCEPT,
    lttng_ust_event_notifier, lttng_ust_event_recorder,
    lttng_ust_event_type::{LTTNG_UST_EVENT_TYPE_NOTIFIER, LTTNG_UST_EVENT_TYPE_RECORDER},
    lttng_ust_notification_ctx, lttng_ust_probe_ctx, lttng_ust_ring_buffer_ctx,
    lttng_ust_tracepoint_probe,
};

use crate::error::FireError;
use crate::loader::Loaded;
use crate::provider::EventRuntime;
use crate::spec::{FieldType, Value};

/// The signature string shared by our call sites and our tracepoint classes. LTTng connects a
/// probe to a call site only when the two strings are equal, so it names this crate's version:
/// two copies of cotrace-ust in one process never call each other's probes.
pub(crate) const SIGNATURE: &core::ffi::CStr = match core::ffi::CStr::from_bytes_with_nul(
    concat!(
        "cotrace-ust ",
        env!("CARGO_PKG_VERSION"),
        ": const struct cotrace_event *event, const struct cotrace_value *values, size_t count\0"
    )
    .as_bytes(),
) {
    Ok(s) => s,
    Err(_) => panic!("signature string"),
};

/// Whether LTTng packs its ring buffers on this architecture (`LTTNG_UST_ARCH_HAS_EFFICIENT_
/// UNALIGNED_ACCESS` in `lttng/ust-arch.h`).
pub(crate) const PACKED: bool = cfg!(any(
    target_arch = "x86",
    target_arch = "x86_64",
    target_arch = "powerpc",
    target_arch = "powerpc64"
));

/// `lttng_ust_rb_alignof(T)`: 1 when packed, else the type's alignment.
pub(crate) const fn rb_align(natural: usize) -> usize {
    if PACKED { 1 } else { natural }
}

/// Padding to add at `offset` for alignment `align` (`lttng_ust_ring_buffer_align`).
const fn pad(offset: usize, align: usize) -> usize {
    if PACKED {
        0
    } else {
        offset.wrapping_neg() & (align - 1)
    }
}

/// The one probe callback of every cotrace event, as LTTng stores it.
pub(crate) type Callback = unsafe extern "C" fn(
    data: *mut c_void,
    event: *const c_void,
    values: *const c_void,
    count: usize,
);

/// Address of [`probe_callback`], which is how the refcount code recognises our probes.
#[inline]
pub(crate) fn callback_address() -> usize {
    probe_callback as Callback as usize
}

/// Length a string field takes without its NUL: up to the first NUL, like C's `strlen`.
#[inline]
fn c_len(s: &str) -> usize {
    let bytes = s.as_bytes();
    // SAFETY: memchr reads at most `bytes.len()` bytes of a valid slice.
    let nul = unsafe { libc::memchr(bytes.as_ptr().cast(), 0, bytes.len()) };
    if nul.is_null() {
        bytes.len()
    } else {
        nul as usize - bytes.as_ptr() as usize
    }
}

/// Calls `f` with the `data` of each of our probes attached to `event`'s call site, walking the
/// probes array under liblttng-ust's RCU read lock as the `lttng_ust_tracepoint()` macro does.
#[inline(always)]
fn for_each_own_probe(lib: &Loaded, event: &EventRuntime, mut f: impl FnMut(*mut c_void)) {
    let ours = callback_address();
    // SAFETY: the RCU read lock keeps the probes array alive while it is walked; it ends with
    // an entry whose `func` is NULL. The call site was registered and stays allocated forever.
    unsafe {
        (lib.hidden.rcu_read_lock)();
        let raw = probes_field(event).load(Ordering::Relaxed);
        let mut p = (lib.hidden.rcu_dereference)(raw.cast()) as *const lttng_ust_tracepoint_probe;
        if !p.is_null() {
            while let Some(func) = (*p).func {
                if func as usize == ours {
                    f((*p).data);
                }
                p = p.add(1);
            }
        }
        (lib.hidden.rcu_read_unlock)();
    }
}

/// Invokes every probe attached to `event`'s call site, like the `lttng_ust_tracepoint()`
/// macro does. `values` have been checked against the event's fields.
#[inline]
pub(crate) fn dispatch(lib: &Loaded, event: &EventRuntime, payload: &Payload<'_>) {
    for_each_own_probe(lib, event, |data| {
        // SAFETY: `data` is what liblttng-ust registered with our callback; the event and the
        // payload outlive the call, and the count matches the payload's values.
        unsafe {
            probe_callback(
                data,
                (event as *const EventRuntime).cast(),
                (payload as *const Payload<'_>).cast(),
                payload.values.len(),
            )
        }
    });
}

/// Counts our probes attached to `event`'s call site (the polling fallback).
pub(crate) fn attached_probes(lib: &Loaded, event: &EventRuntime) -> u32 {
    let mut n = 0;
    for_each_own_probe(lib, event, |_| n += 1);
    n
}

/// Reads an `int` flag that liblttng-ust stores concurrently (`CMM_ACCESS_ONCE` /
/// `CMM_STORE_SHARED` in C: a relaxed atomic access).
///
/// # Safety
///
/// `flag` points to a live, aligned `int` that other threads access only atomically or with
/// single aligned stores, as liblttng-ust does for its `enabled`, `active`, `eval_filter` and
/// `eval_capture` fields.
#[inline(always)]
unsafe fn load_flag(flag: *const c_int) -> c_int {
    // SAFETY: the caller's contract; `c_int` is `i32` on every Linux target.
    unsafe { AtomicI32::from_ptr(flag.cast_mut()) }.load(Ordering::Relaxed)
}

/// The call site's `probes` pointer, which liblttng-ust replaces with `rcu_assign_pointer`.
fn probes_field(event: &EventRuntime) -> &AtomicPtr<lttng_ust_tracepoint_probe> {
    // SAFETY: the call site is a leaked, registered `lttng_ust_tracepoint`; its `probes` field
    // is an aligned pointer that other threads store atomically, so an atomic view is sound.
    unsafe { AtomicPtr::from_ptr(ptr::addr_of_mut!((*event.callsite).probes)) }
}

/// Room for the filter interpreter stack of the largest event (16 bytes per field, the most a
/// field takes with 8-byte pointers).
const STACK_BYTES: usize = 16 * crate::MAX_FIELDS;
/// NUL-terminated copies of short strings for the filter; longer ones go to the heap.
const STRING_ARENA: usize = 512;

/// `sizeof(void *)` and `sizeof(unsigned long)` of this target: the width of the interpreter
/// stack's pointer and length slots (the two are equal on every Linux ABI, ILP32 and LP64).
const NATIVE_WIDTH: usize = core::mem::size_of::<usize>();
const _: () = assert!(core::mem::size_of::<core::ffi::c_ulong>() == NATIVE_WIDTH);

/// The filter interpreter stack, aligned for the 8-byte slots LTTng reads.
#[repr(C, align(8))]
struct InterpreterStack([u8; STACK_BYTES]);

/// NUL-terminated copies of string values for the interpreter stack, alive as long as the
/// storage they were copied into.
///
/// Every access to the storage goes through one raw pointer taken once at creation, so copying
/// a string never invalidates a pointer handed out for an earlier one; long strings go to
/// `heap`, whose inner buffers do not move when the outer `Vec` grows.
struct StringArena<'a> {
    base: *mut u8,
    cap: usize,
    used: usize,
    heap: Vec<Vec<u8>>,
    _storage: core::marker::PhantomData<&'a mut [core::mem::MaybeUninit<u8>]>,
}

impl<'a> StringArena<'a> {
    fn new(storage: &'a mut [core::mem::MaybeUninit<u8>]) -> Self {
        Self {
            base: storage.as_mut_ptr().cast(),
            cap: storage.len(),
            used: 0,
            heap: Vec::new(),
            _storage: core::marker::PhantomData,
        }
    }

    /// A NUL-terminated copy of `s` (up to its first NUL) that lives as long as the arena's
    /// storage and heap.
    fn c_string(&mut self, s: &str) -> *const c_char {
        let bytes = &s.as_bytes()[..c_len(s)];
        let need = bytes.len() + 1;
        if need <= self.cap - self.used {
            // SAFETY: `base..base + cap` is the storage borrowed mutably for 'a and reached only
            // through `base`; `used + need <= cap`, so the copy and its NUL stay inside it, and
            // the source is a distinct `&str`.
            unsafe {
                let dst = self.base.add(self.used);
                ptr::copy_nonoverlapping(bytes.as_ptr(), dst, bytes.len());
                dst.add(bytes.len()).write(0);
                self.used += need;
                dst.cast_const().cast()
            }
        } else {
            let mut owned = Vec::with_capacity(need);
            owned.extend_from_slice(bytes);
            owned.push(0);
            self.heap.push(owned);
            self.heap.last().map_or(ptr::null(), |v| v.as_ptr().cast())
        }
    }
}

/// Native-endian bytes of `value` in a slot of `width` bytes (4 or 8): the low bytes of the
/// value, as a C store of a `uintptr_t` or `unsigned long` of that width writes them.
fn word_bytes(value: u64, width: usize) -> ([u8; 8], usize) {
    let mut out = [0u8; 8];
    if width == 4 {
        out[..4].copy_from_slice(&(value as u32).to_ne_bytes());
        (out, 4)
    } else {
        out.copy_from_slice(&value.to_ne_bytes());
        (out, 8)
    }
}

/// Lays out the filter interpreter stack of `values` in `data` as LTTng-UST's C probe does
/// (`lttng_ust__event_prepare_interpreter_stack` in `ust-tracepoint-event.h`) for a target
/// whose pointers and `unsigned long` are `width` bytes (4 or 8): integers, bools and enums
/// widened to 8 bytes, floats as an 8-byte `double`, a string as a `width`-byte pointer to a
/// NUL-terminated copy (`c_string` makes it and returns its address), bytes as a `width`-byte
/// length then a `width`-byte pointer. Returns the bytes used; slots beyond `data` are dropped
/// (never the case for the stack of [`STACK_BYTES`]).
fn lay_out_stack(
    data: &mut [u8],
    width: usize,
    values: &[Value<'_>],
    mut c_string: impl FnMut(&str) -> u64,
) -> usize {
    let mut at = 0usize;
    let mut put = |bytes: &[u8]| {
        if let Some(dst) = data.get_mut(at..at + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
        at += bytes.len();
    };
    let put_word = |value: u64, put: &mut dyn FnMut(&[u8])| {
        let (bytes, n) = word_bytes(value, width);
        put(&bytes[..n]);
    };
    for value in values {
        match *value {
            Value::I8(v) => put(&i64::from(v).to_ne_bytes()),
            Value::I16(v) => put(&i64::from(v).to_ne_bytes()),
            Value::I32(v) => put(&i64::from(v).to_ne_bytes()),
            Value::I64(v) | Value::Enum(v) => put(&v.to_ne_bytes()),
            Value::U8(v) => put(&u64::from(v).to_ne_bytes()),
            Value::U16(v) => put(&u64::from(v).to_ne_bytes()),
            Value::U32(v) => put(&u64::from(v).to_ne_bytes()),
            Value::U64(v) => put(&v.to_ne_bytes()),
            Value::Bool(v) => put(&u64::from(v).to_ne_bytes()),
            Value::F32(v) => put(&f64::from(v).to_ne_bytes()),
            Value::F64(v) => put(&v.to_ne_bytes()),
            Value::Str(s) => put_word(c_string(s), &mut put),
            Value::Bytes(b) => {
                put_word(b.len() as u64, &mut put);
                put_word(b.as_ptr() as usize as u64, &mut put);
            }
        }
    }
    at
}

/// The interpreter stack of `values` for this target, string copies in `arena`.
fn prepare_stack(stack: &mut InterpreterStack, arena: &mut StringArena<'_>, values: &[Value<'_>]) {
    lay_out_stack(&mut stack.0, NATIVE_WIDTH, values, |s| {
        arena.c_string(s) as usize as u64
    });
}

/// String lengths (without NUL) of the string fields, by field index.
type Lens = [core::mem::MaybeUninit<usize>; crate::MAX_FIELDS];

/// The values of one fire, checked against the event's fields, with what every attached probe
/// needs computed once: the payload size (the C probe's `get_size`) and the string lengths.
pub(crate) struct Payload<'a> {
    pub(crate) values: &'a [Value<'a>],
    /// The address that fired the event, for the `ip` context (0: unknown).
    ip: usize,
    /// Written for every `Str` field, by field index.
    lens: Lens,
    size: usize,
}

impl<'a> Payload<'a> {
    /// Not yet checked: call [`check`](Self::check) before use. `ip` is the address of the
    /// line that fired the event ([`call_site`](crate::call_site)), 0 when unknown.
    #[inline]
    pub(crate) fn new(values: &'a [Value<'a>], ip: usize) -> Self {
        Self {
            values,
            ip,
            lens: [const { core::mem::MaybeUninit::uninit() }; crate::MAX_FIELDS],
            size: 0,
        }
    }

    /// Checks the values against `event`'s fields and sizes the payload, in place (the
    /// string-length table is not moved).
    #[inline]
    pub(crate) fn check(&mut self, event: &EventRuntime) -> Result<(), FireError> {
        self.check_fields(event.spec.fields)
    }

    #[inline]
    fn check_fields(&mut self, fields: &[crate::FieldSpec]) -> Result<(), FireError> {
        let values = self.values;
        let lens = &mut self.lens;
        if fields.len() != values.len() {
            return Err(FireError::WrongCount {
                expected: fields.len(),
                got: values.len(),
            });
        }
        let mut len = 0usize;
        let scalar = |len: &mut usize, size: usize| *len += pad(*len, rb_align(size)) + size;
        for (index, (field, value)) in fields.iter().zip(values).enumerate() {
            match (*value, field.ty) {
                (Value::I8(_), FieldType::I8)
                | (Value::U8(_), FieldType::U8)
                | (Value::Bool(_), FieldType::Bool) => scalar(&mut len, 1),
                (Value::I16(_), FieldType::I16) | (Value::U16(_), FieldType::U16) => {
                    scalar(&mut len, 2)
                }
                (Value::I32(_), FieldType::I32)
                | (Value::U32(_), FieldType::U32)
                | (Value::F32(_), FieldType::F32) => scalar(&mut len, 4),
                (Value::I64(_), FieldType::I64)
                | (Value::U64(_), FieldType::U64)
                | (Value::F64(_), FieldType::F64)
                | (Value::Enum(_), FieldType::Enum(_)) => scalar(&mut len, 8),
                (Value::Str(s), FieldType::Str) => {
                    let n = c_len(s);
                    if let Some(slot) = lens.get_mut(index) {
                        slot.write(n);
                    }
                    len += n + 1;
                }
                (Value::Bytes(b), FieldType::Bytes) if b.len() <= u32::MAX as usize => {
                    scalar(&mut len, 4);
                    len += b.len();
                }
                (Value::Bytes(b), FieldType::ByteArray(n)) if b.len() == n => len += n,
                _ => return Err(FireError::WrongType { index }),
            }
        }
        self.size = len;
        Ok(())
    }

    /// Length of the string field at `index`.
    #[inline]
    fn str_len(&self, index: usize) -> usize {
        // SAFETY: `check` wrote the slot of every `Str` field, and this is only called for
        // those (field count <= MAX_FIELDS, checked at registration).
        self.lens
            .get(index)
            .map_or(0, |l| unsafe { l.assume_init() })
    }
}

/// The largest ring-buffer alignment among `spec`'s fields (the C probe's `get_align`).
pub(crate) fn largest_align(spec: &crate::EventSpec) -> usize {
    spec.fields
        .iter()
        .map(|f| match f.ty {
            FieldType::I8 | FieldType::U8 | FieldType::Bool => rb_align(1),
            FieldType::I16 | FieldType::U16 => rb_align(2),
            FieldType::I32 | FieldType::U32 | FieldType::F32 | FieldType::Bytes => rb_align(4),
            FieldType::I64 | FieldType::U64 | FieldType::F64 | FieldType::Enum(_) => rb_align(8),
            FieldType::Str | FieldType::ByteArray(_) => 1,
        })
        .max()
        .unwrap_or(1)
}

/// The probe callback of every cotrace event (see the module docs).
///
/// # Safety
///
/// Called only by [`dispatch`], with `data` the LTTng event object LTTng attached, `event` a
/// live `EventRuntime` and `values[..count]` checked against its fields. For an event whose
/// type is neither recorder nor notifier only `data`'s `type` is read.
pub(crate) unsafe extern "C" fn probe_callback(
    data: *mut c_void,
    event: *const c_void,
    values: *const c_void,
    count: usize,
) {
    // SAFETY: the caller's contract; LTTng's event, channel and session objects stay valid
    // while the probe is attached (the RCU read lock taken by `dispatch`), and the fields read
    // with `load_flag` are the ones LTTng changes concurrently (CMM_ACCESS_ONCE in C).
    unsafe {
        let common = data as *const lttng_ust_event_common;
        let _ = count;
        let kind = (*common).type_;
        match kind {
            LTTNG_UST_EVENT_TYPE_RECORDER => {
                let recorder = (*common).child as *const lttng_ust_event_recorder;
                let chan = (*recorder).chan;
                let chan_common = (*chan).parent;
                if load_flag(ptr::addr_of!((*(*chan_common).session).active)) == 0 {
                    return;
                }
                if load_flag(ptr::addr_of!((*chan_common).enabled)) == 0 {
                    return;
                }
            }
            LTTNG_UST_EVENT_TYPE_NOTIFIER => {}
            // Counter events (LTTNG_UST_EVENT_TYPE_COUNTER = 2, LTTng-UST 2.14 and later,
            // which the 2.13 bindings do not name) and anything newer: not supported, and
            // skipped before anything else (`child`, `event`, `values`) is read.
            _ => return,
        }
        if load_flag(ptr::addr_of!((*common).enabled)) == 0 {
            return;
        }
        let rt = &*(event as *const EventRuntime);
        let payload = &*(values as *const Payload<'_>);
        let mut probe_ctx = lttng_ust_probe_ctx {
            struct_size: core::mem::size_of::<lttng_ust_probe_ctx>() as u32,
            // The C probe records its caller's return address for the `ip` context; ours is
            // the address of the line that fired the event, taken there (`call_site`).
            ip: ptr::without_provenance_mut(payload.ip),
        };
        if kind == LTTNG_UST_EVENT_TYPE_RECORDER
            && load_flag(ptr::addr_of!((*common).eval_filter)) == 0
        {
            // The common case, kept free of the interpreter stack.
            record(common, rt, payload, &mut probe_ctx);
        } else {
            filtered_or_notifier(common, kind, rt, payload, &mut probe_ctx);
        }
    }
}

/// The rest of the probe when a filter is set or the event is a notifier: prepare the
/// interpreter stack, run the filter, then record or send the notification.
///
/// # Safety
///
/// As [`probe_callback`], after its enablement checks passed.
#[cold]
#[inline(never)]
unsafe fn filtered_or_notifier(
    common: *const lttng_ust_event_common,
    kind: u32,
    rt: &EventRuntime,
    payload: &Payload<'_>,
    probe_ctx: &mut lttng_ust_probe_ctx,
) {
    let values = payload.values;
    let mut stack = InterpreterStack([0; STACK_BYTES]);
    let mut storage = [core::mem::MaybeUninit::<u8>::uninit(); STRING_ARENA];
    let mut arena = StringArena::new(&mut storage);
    // SAFETY: the caller's contract (see `probe_callback`).
    unsafe {
        let mut prepared = false;
        if load_flag(ptr::addr_of!((*common).eval_filter)) != 0 {
            prepare_stack(&mut stack, &mut arena, values);
            prepared = true;
            if let Some(run_filter) = (*common).run_filter {
                if run_filter(common, stack.0.as_ptr().cast(), probe_ctx, ptr::null_mut())
                    != LTTNG_UST_EVENT_FILTER_ACCEPT as c_int
                {
                    return;
                }
            }
        }
        if kind == LTTNG_UST_EVENT_TYPE_RECORDER {
            record(common, rt, payload, probe_ctx);
            return;
        }
        let notifier = (*common).child as *const lttng_ust_event_notifier;
        let mut notif_ctx = lttng_ust_notification_ctx {
            struct_size: core::mem::size_of::<lttng_ust_notification_ctx>() as u32,
            eval_capture: load_flag(ptr::addr_of!((*notifier).eval_capture)),
        };
        if !prepared && notif_ctx.eval_capture != 0 {
            prepare_stack(&mut stack, &mut arena, values);
        }
        if let Some(send) = (*notifier).notification_send {
            send(notifier, stack.0.as_ptr().cast(), probe_ctx, &mut notif_ctx);
        }
    }
}

/// Largest payload laid out on the stack and written in one call (packed ring buffers only).
const STAGING: usize = 256;

/// Lays the payload out in `buf` as LTTng's packed ring buffer stores it; returns its length
/// (`payload.size`, which `Payload::check` computed, at most `STAGING` here).
#[inline]
fn stage(
    buf: &mut [core::mem::MaybeUninit<u8>; STAGING],
    payload: &Payload<'_>,
    fields: &[crate::FieldSpec],
) -> usize {
    let mut at = 0usize;
    let mut put = |bytes: &[u8]| {
        if let Some(dst) = buf.get_mut(at..at + bytes.len()) {
            // SAFETY: `dst` and `bytes` have the same length and do not overlap (one is on
            // this stack frame's staging buffer, the other the caller's value).
            unsafe {
                ptr::copy_nonoverlapping(bytes.as_ptr(), dst.as_mut_ptr().cast(), bytes.len())
            };
            at += bytes.len();
        }
    };
    for (i, (field, value)) in fields.iter().zip(payload.values).enumerate() {
        match *value {
            Value::I8(v) => put(&v.to_ne_bytes()),
            Value::I16(v) => put(&v.to_ne_bytes()),
            Value::I32(v) => put(&v.to_ne_bytes()),
            Value::I64(v) | Value::Enum(v) => put(&v.to_ne_bytes()),
            Value::U8(v) => put(&v.to_ne_bytes()),
            Value::U16(v) => put(&v.to_ne_bytes()),
            Value::U32(v) => put(&v.to_ne_bytes()),
            Value::U64(v) => put(&v.to_ne_bytes()),
            Value::Bool(v) => put(&[u8::from(v)]),
            Value::F32(v) => put(&v.to_ne_bytes()),
            Value::F64(v) => put(&v.to_ne_bytes()),
            Value::Str(s) => {
                // Up to the first NUL, then a NUL: what event_strcpy stores.
                put(&s.as_bytes()[..payload.str_len(i).min(s.len())]);
                put(&[0]);
            }
            Value::Bytes(b) => {
                if field.ty == FieldType::Bytes {
                    put(&(b.len() as u32).to_ne_bytes());
                }
                put(b);
            }
        }
    }
    at
}

/// Reserve, write, commit: the recorder half of the probe.
///
/// # Safety
///
/// `common` is a live recorder event whose channel is enabled in an active session.
#[inline]
unsafe fn record(
    common: *const lttng_ust_event_common,
    rt: &EventRuntime,
    payload: &Payload<'_>,
    probe_ctx: &mut lttng_ust_probe_ctx,
) {
    let values = payload.values;
    // SAFETY: the caller's contract; the ops table belongs to the live channel.
    unsafe {
        let recorder = (*common).child as *mut lttng_ust_event_recorder;
        let chan = (*recorder).chan;
        let ops = (*chan).ops;
        let (Some(reserve), Some(write), Some(strcpy), Some(commit)) = (
            (*ops).event_reserve,
            (*ops).event_write,
            (*ops).event_strcpy,
            (*ops).event_commit,
        ) else {
            return;
        };
        let (len, align) = (payload.size, rt.largest_align);
        let mut ctx = lttng_ust_ring_buffer_ctx {
            struct_size: core::mem::size_of::<lttng_ust_ring_buffer_ctx>() as u32,
            client_priv: recorder.cast(),
            data_size: len,
            largest_align: align as c_int,
            probe_ctx,
            priv_: ptr::null_mut(),
        };
        if reserve(&mut ctx) < 0 {
            return;
        }
        let ctx = &mut ctx as *mut lttng_ust_ring_buffer_ctx;
        if PACKED && len <= STAGING {
            // Packed ring buffer: the payload is the fields' bytes back to back, so it can be
            // laid out here and written with one call instead of one per field. The bytes in
            // the ring buffer are the same as the C probe's.
            let mut staging = [core::mem::MaybeUninit::<u8>::uninit(); STAGING];
            let written = stage(&mut staging, payload, rt.spec.fields);
            write(ctx, staging.as_ptr().cast(), written, 1);
            commit(ctx);
            return;
        }
        macro_rules! scalar {
            ($v:expr) => {{
                let v = $v;
                write(
                    ctx,
                    core::ptr::from_ref(&v).cast::<c_void>(),
                    core::mem::size_of_val(&v),
                    rb_align(core::mem::align_of_val(&v)),
                )
            }};
        }
        for (i, (field, value)) in rt.spec.fields.iter().zip(values).enumerate() {
            match *value {
                Value::I8(v) => scalar!(v),
                Value::I16(v) => scalar!(v),
                Value::I32(v) => scalar!(v),
                Value::I64(v) | Value::Enum(v) => scalar!(v),
                Value::U8(v) => scalar!(v),
                Value::U16(v) => scalar!(v),
                Value::U32(v) => scalar!(v),
                Value::U64(v) => scalar!(v),
                Value::Bool(v) => scalar!(u8::from(v)),
                Value::F32(v) => scalar!(v),
                Value::F64(v) => scalar!(v),
                // LTTng copies len - 1 bytes (stopping early at a NUL, which `c_len` rules
                // out) and writes the NUL itself: the source needs no terminator.
                Value::Str(s) => strcpy(ctx, s.as_ptr().cast(), payload.str_len(i) + 1),
                Value::Bytes(b) => {
                    if field.ty == FieldType::Bytes {
                        scalar!(b.len() as u32);
                    }
                    write(ctx, b.as_ptr().cast(), b.len(), rb_align(1));
                }
            }
        }
        commit(ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FieldSpec;

    const FIELDS: &[FieldSpec] = &[
        FieldSpec {
            name: "a",
            ty: FieldType::U64,
        },
        FieldSpec {
            name: "b",
            ty: FieldType::I16,
        },
        FieldSpec {
            name: "c",
            ty: FieldType::Bool,
        },
        FieldSpec {
            name: "s",
            ty: FieldType::Str,
        },
        FieldSpec {
            name: "q",
            ty: FieldType::Bytes,
        },
        FieldSpec {
            name: "r",
            ty: FieldType::ByteArray(2),
        },
        FieldSpec {
            name: "f",
            ty: FieldType::F32,
        },
    ];

    /// One value per field of `FIELDS`; `a` first.
    fn sample_values(a: u64) -> [Value<'static>; 7] {
        [
            Value::U64(a),
            Value::I16(-2),
            Value::Bool(true),
            Value::Str("hi\0ignored"),
            Value::Bytes(&[7, 8, 9]),
            Value::Bytes(&[1, 2]),
            Value::F32(1.5),
        ]
    }

    /// Issue 9: the arena handed out pointers that its next copy invalidated (a re-borrow of
    /// the arena; a `Box` moved after `as_ptr()`). Miri reported, before the fix: "attempting
    /// a read access using <tag> ... but that tag does not exist in the borrow stack".
    #[test]
    fn arena_strings_stay_valid_after_later_copies() {
        let mut storage = [core::mem::MaybeUninit::<u8>::uninit(); STRING_ARENA];
        let mut arena = StringArena::new(&mut storage);
        let long = "x".repeat(600);
        let a = arena.c_string("first");
        let b = arena.c_string(&long);
        let c = arena.c_string("third\0cut");
        let d = arena.c_string(&long[..300]);
        let e = arena.c_string(&long);
        let f = arena.c_string(&long[..300]); // no longer fits: heap
        // SAFETY: the pointers are the arena's NUL-terminated copies, alive with it.
        let read = |p: *const c_char| unsafe { core::ffi::CStr::from_ptr(p).to_bytes().to_vec() };
        assert_eq!(read(a), b"first");
        assert_eq!(read(b), long.as_bytes());
        assert_eq!(read(c), b"third");
        assert_eq!(read(d), &long.as_bytes()[..300]);
        assert_eq!(read(e), long.as_bytes());
        assert_eq!(read(f), &long.as_bytes()[..300]);
        assert_eq!(arena.heap.len(), 3);
    }

    /// The expected stack for `values`, built slot by slot for a target of `width`.
    fn stack_for(width: usize, words: &[(u64, usize)]) -> Vec<u8> {
        let mut out = vec![];
        for &(v, n) in words {
            if n == 8 {
                out.extend_from_slice(&v.to_ne_bytes());
            } else {
                assert_eq!(n, width);
                let (b, len) = word_bytes(v, width);
                out.extend_from_slice(&b[..len]);
            }
        }
        out
    }

    /// Issue 9: on 32-bit targets a string field's pointer (4 bytes) was copied into an 8-byte
    /// slot (`copy_from_slice` length mismatch: abort). The layout is now computed for a given
    /// pointer width, checked here for 4 and 8 on any host.
    #[test]
    fn interpreter_stack_layout_for_4_and_8_byte_pointers() {
        let bytes: &[u8] = &[1, 2, 3];
        let values = [
            Value::I8(-1),
            Value::Str("s"),
            Value::Bytes(bytes),
            Value::F32(0.5),
            Value::Str("t"),
            Value::U16(9),
        ];
        for width in [4usize, 8] {
            let mut data = [0xaau8; STACK_BYTES];
            let mut next = 0x1000u64;
            let used = lay_out_stack(&mut data, width, &values, |_| {
                next += 0x10;
                next
            });
            let ptr = bytes.as_ptr() as usize as u64;
            let want = stack_for(
                width,
                &[
                    ((-1i64) as u64, 8),
                    (0x1010, width),
                    (3, width),
                    (ptr, width),
                    (0.5f64.to_bits(), 8),
                    (0x1020, width),
                    (9, 8),
                ],
            );
            // C's `sizeof`s: 8 + p + 2p + 8 + p + 8.
            assert_eq!(used, 24 + 4 * width, "width {width}");
            assert_eq!(&data[..used], &want[..], "width {width}");
            assert!(
                data[used..].iter().all(|&b| b == 0xaa),
                "width {width}: wrote past the end"
            );
        }
        if cfg!(target_endian = "little") {
            assert_eq!(
                word_bytes(0x1122_3344_5566_7788, 4),
                ([0x88, 0x77, 0x66, 0x55, 0, 0, 0, 0], 4)
            );
        }
        // The largest event fits with 8-byte pointers: 16 bytes per field at most.
        let max = [Value::Bytes(bytes); crate::MAX_FIELDS];
        let mut data = [0u8; STACK_BYTES];
        assert_eq!(lay_out_stack(&mut data, 8, &max, |_| 0), STACK_BYTES);
    }

    #[test]
    fn native_stack_points_at_arena_copies() {
        let values = [
            Value::U32(7),
            Value::Str("hello\0world"),
            Value::Str("again"),
        ];
        let mut stack = InterpreterStack([0; STACK_BYTES]);
        let mut storage = [core::mem::MaybeUninit::<u8>::uninit(); STRING_ARENA];
        let mut arena = StringArena::new(&mut storage);
        prepare_stack(&mut stack, &mut arena, &values);
        let slot = |at: usize| {
            let mut b = [0u8; NATIVE_WIDTH];
            b.copy_from_slice(&stack.0[at..at + NATIVE_WIDTH]);
            usize::from_ne_bytes(b) as *const c_char
        };
        // SAFETY: the slots hold the arena's NUL-terminated copies, alive with `arena`.
        unsafe {
            assert_eq!(core::ffi::CStr::from_ptr(slot(8)).to_bytes(), b"hello");
            assert_eq!(
                core::ffi::CStr::from_ptr(slot(8 + NATIVE_WIDTH)).to_bytes(),
                b"again"
            );
        }
        assert_eq!(u64::from_ne_bytes(stack.0[..8].try_into().unwrap()), 7);
    }

    #[test]
    fn check_sizes_like_the_c_probe_and_refuses_mismatches() {
        let values = sample_values(1);
        let mut p = Payload::new(&values, 0);
        p.check_fields(FIELDS).unwrap();
        let expected = if PACKED {
            8 + 2 + 1 + 3 + (4 + 3) + 2 + 4
        } else {
            // a@0 (8), b@8 (2), c@10 (1), s@11 (3), len@16 (4, padded from 14), q@20 (3),
            // r@23 (2), f@28 (4, padded from 25).
            32
        };
        assert_eq!(p.size, expected);
        assert_eq!(p.str_len(3), 2);

        let mut short = Payload::new(&values[..6], 0);
        assert_eq!(
            short.check_fields(FIELDS),
            Err(FireError::WrongCount {
                expected: 7,
                got: 6
            })
        );
        let mut wrong = values;
        wrong[5] = Value::Bytes(&[1, 2, 3]);
        assert_eq!(
            Payload::new(&wrong, 0).check_fields(FIELDS),
            Err(FireError::WrongType { index: 5 })
        );
        wrong[5] = Value::Bytes(&[1, 2]);
        wrong[2] = Value::U8(1);
        assert_eq!(
            Payload::new(&wrong, 0).check_fields(FIELDS),
            Err(FireError::WrongType { index: 2 })
        );
    }

    #[test]
    fn staging_lays_fields_back_to_back() {
        if !PACKED {
            return;
        }
        let values = sample_values(0x0102_0304_0506_0708);
        let mut p = Payload::new(&values, 0);
        p.check_fields(FIELDS).unwrap();
        let mut buf = [core::mem::MaybeUninit::<u8>::uninit(); STAGING];
        let n = stage(&mut buf, &p, FIELDS);
        assert_eq!(n, p.size);
        // SAFETY: `stage` initialised the first `n` bytes.
        let bytes: Vec<u8> = buf[..n]
            .iter()
            .map(|b| unsafe { b.assume_init() })
            .collect();
        let mut want = vec![];
        want.extend_from_slice(&0x0102_0304_0506_0708u64.to_ne_bytes());
        want.extend_from_slice(&(-2i16).to_ne_bytes());
        want.push(1);
        want.extend_from_slice(b"hi\0");
        want.extend_from_slice(&3u32.to_ne_bytes());
        want.extend_from_slice(&[7, 8, 9, 1, 2]);
        want.extend_from_slice(&1.5f32.to_ne_bytes());
        assert_eq!(bytes, want);
    }

    /// A counter event (`LTTNG_UST_EVENT_TYPE_COUNTER`, 2 in LTTng-UST 2.14 to 2.16; the 2.13
    /// bindings do not name it) reaches the probe when a map counts a cotrace event: the probe
    /// returns after reading `type` alone. Every other pointer here is null, so reading
    /// `child`, the event runtime or the values would crash the test.
    #[test]
    fn a_counter_event_is_skipped_after_reading_its_type_only() {
        for kind in [2, 3, u32::MAX] {
            let common = lttng_ust_event_common {
                type_: kind,
                enabled: 1,
                ..Default::default()
            };
            // SAFETY: `common` is a valid event object of a type the probe does not handle;
            // the probe's contract for such events asks nothing of the other arguments.
            unsafe {
                probe_callback(
                    ptr::from_ref(&common).cast_mut().cast(),
                    ptr::null(),
                    ptr::null(),
                    0,
                )
            };
        }
    }
}
