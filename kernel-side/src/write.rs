//! The write path: [`Value`]s checked against the format and sent with one `writev`, the
//! write index first, the fixed part next, `__data_loc` data last, without touching the heap.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use cotrace_word::layout::KERNEL_MASK;

use crate::errno::Errno;
use crate::error::WriteError;
use crate::format::{EventFormat, FieldType};
use crate::register::Registration;
use crate::sys::{IoVecs, RawFd, StackBuf};
use crate::tracefs::Current;

/// One field's value for [`Registration::write`]. The variant must match the field's
/// [`FieldType`] (`U32` for `FieldType::U32`, `Chars` for `FieldType::Chars(_)`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// For [`FieldType::U8`].
    U8(u8),
    /// For [`FieldType::U16`].
    U16(u16),
    /// For [`FieldType::U32`].
    U32(u32),
    /// For [`FieldType::U64`].
    U64(u64),
    /// For [`FieldType::S8`].
    S8(i8),
    /// For [`FieldType::S16`].
    S16(i16),
    /// For [`FieldType::S32`].
    S32(i32),
    /// For [`FieldType::S64`].
    S64(i64),
    /// For [`FieldType::Chars`]: at most N bytes; shorter values are padded with NULs.
    Chars(&'a [u8]),
    /// For [`FieldType::Str`]: sent with a terminating NUL (an interior NUL ends the string for
    /// trace readers).
    Str(&'a str),
    /// For [`FieldType::Bytes`].
    Bytes(&'a [u8]),
}

impl Value<'_> {
    /// The variant's name, for error messages.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::U8(_) => "U8",
            Self::U16(_) => "U16",
            Self::U32(_) => "U32",
            Self::U64(_) => "U64",
            Self::S8(_) => "S8",
            Self::S16(_) => "S16",
            Self::S32(_) => "S32",
            Self::S64(_) => "S64",
            Self::Chars(_) => "Chars",
            Self::Str(_) => "Str",
            Self::Bytes(_) => "Bytes",
        }
    }
}

/// What [`Registration::write`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteOutcome {
    /// The kernel took the event.
    Written,
    /// The kernel took the event with its dynamic fields cut to fit [`MAX_PAYLOAD`] (see
    /// [`Registration::write`]'s "Oversized events"); counted in
    /// [`WriteStats::truncated`].
    Truncated,
    /// Nobody has the event enabled now (bit 31 clear, or the kernel's `EBADF`); nothing was
    /// recorded. Not an error.
    NotEnabled,
}

/// The largest payload (the bytes after the 4-byte write index) that every kernel consumer
/// records: ftrace keeps an event only if it fits one ring-buffer sub-buffer (4096 bytes by
/// default, less 16 bytes of page header, 8 of event header and ftrace's own 8-byte
/// `common_*` fields), and perf refuses events over 8 KiB with a kernel `WARN_ONCE`. Measured
/// on Linux 6.12: ftrace records a payload of 4064 bytes and silently drops 4065.
pub const MAX_PAYLOAD: usize = 4064;

/// What a string cut to fit ends with (before its NUL).
pub const TRUNCATION_MARK: &str = "[truncated]";

/// Per-registration counts of writes that did not go as asked: see
/// [`Registration::write_stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WriteStats {
    /// Events recorded with their dynamic fields cut to fit ([`WriteOutcome::Truncated`]).
    pub truncated: u64,
    /// Enabled events not sent because the process's `user_events_data` descriptor was closed
    /// under this crate and not (yet) replaced ([`WriteError::DescriptorLost`]).
    pub dropped: u64,
    /// Writes that failed otherwise: values that do not fit the format, or a kernel error.
    pub failed: u64,
}

/// See [`verify_descriptor_before_each_write`].
static VERIFY_EACH_WRITE: AtomicBool = AtomicBool::new(false);

/// Checks the descriptor's identity (one `kcmp`) before every enabled write, for the whole
/// process, when `on`.
///
/// By default the identity of the process's `user_events_data` descriptor is checked only when
/// a write fails: that catches an application closing it (the number is then free, the write
/// fails), but not an application that closes it *and* puts its own file at that very number
/// (an explicit `dup2`, or holding thousands of files) before any enabled write noticed: until
/// then trace bytes would go to that file. With this on, no write can reach another file (the
/// check is a system call, about as costly as the `writev` itself). Writes made while no
/// tracer has an event enabled are never affected.
///
/// # Examples
///
/// ```
/// // A daemon that may reassign every descriptor number after start-up:
/// cotrace_kernel::verify_descriptor_before_each_write(true);
/// ```
pub fn verify_descriptor_before_each_write(on: bool) {
    VERIFY_EACH_WRITE.store(on, Ordering::Relaxed);
}

/// The counters behind [`WriteStats`].
#[derive(Debug, Default)]
pub(crate) struct Stats {
    truncated: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
}

impl Stats {
    #[inline(always)]
    fn count(&self, result: &Result<WriteOutcome, WriteError>) {
        let counter = match result {
            Ok(WriteOutcome::Written | WriteOutcome::NotEnabled) => return,
            Ok(WriteOutcome::Truncated) => &self.truncated,
            Err(WriteError::DescriptorLost) => &self.dropped,
            Err(_) => &self.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Most values [`Registration::write_typed`] takes itself (more take the checked path): every
/// format has at most this many fields.
const TYPED_MAX_FIELDS: usize = crate::format::MAX_FIELDS;

/// Bytes a value takes in the fixed part on the typed path (a `__data_loc` word for dynamic
/// values; `Chars` never gets there).
#[inline(always)]
fn typed_fixed_len(value: &Value<'_>) -> usize {
    match value {
        Value::U8(_) | Value::S8(_) => 1,
        Value::U16(_) | Value::S16(_) => 2,
        Value::U32(_) | Value::S32(_) | Value::Str(_) | Value::Bytes(_) => 4,
        Value::U64(_) | Value::S64(_) => 8,
        Value::Chars(b) => b.len(),
    }
}

/// Bytes of the common header the kernel puts before the payload in its record (`struct
/// trace_entry`: `common_type` u16, `common_flags` u8, `common_preempt_count` u8, `common_pid`
/// i32), from which a `__data_loc` offset counts (`user_event_validate` in
/// `kernel/trace/trace_events_user.c`: `pos = data + offset`, `data` the record's start). It is
/// 8 bytes in every kernel with user_events (6.4+); a user event's first field is at offset 8
/// of its `format` file (checked by `tests/trace.rs` in the VM).
pub(crate) const TRACE_ENTRY_SIZE: usize = 8;

/// The stack buffer of a write: the write index and the largest payload.
const BUFFER: usize = 4096;

const _: () = assert!(4 + MAX_PAYLOAD <= BUFFER);
// Every `__data_loc` offset and size of a sent payload fits its 16 bits.
const _: () = assert!(TRACE_ENTRY_SIZE + MAX_PAYLOAD <= 0xffff);
const _: () = assert!(crate::format::MAX_FIXED_SIZE <= MAX_PAYLOAD);

impl Registration {
    /// Sends one event with these field values, if the kernel has it enabled.
    ///
    /// Checks bit 31 of the word first (one load): when it is clear nothing is sent and
    /// [`WriteOutcome::NotEnabled`] is returned. Otherwise the values are checked against the
    /// format (count, variants, lengths) and sent with one `writev`.
    ///
    /// # Payload layout
    ///
    /// The write index, the fixed fields in declaration order (`char[N]` padded with NULs,
    /// a `size << 16 | offset` word for each dynamic field, the offset counted from the end of
    /// that word), then the dynamic data in declaration order (strings with a NUL). Everything
    /// is copied into one 4 KiB stack buffer and sent as one iovec. No heap allocation, ever.
    ///
    /// # Oversized events
    ///
    /// A payload over [`MAX_PAYLOAD`] bytes (4064) would be dropped by ftrace without a word,
    /// and over 8 KiB perf also drops it with a kernel warning. Such an event is recorded with
    /// its dynamic fields cut to fit: fields that are small enough are kept whole, and the
    /// large ones share the rest equally (each keeps its first bytes). A cut string ends with
    /// [`TRUNCATION_MARK`] (`"[truncated]"`) at a UTF-8 character boundary; cut bytes are just
    /// shorter. The outcome is [`WriteOutcome::Truncated`], counted in
    /// [`write_stats`](Self::write_stats).
    ///
    /// # A closed descriptor
    ///
    /// If the process's `user_events_data` descriptor was closed under this crate (see
    /// [`descriptor_status`](crate::descriptor_status)), a failed `writev` is noticed, nothing
    /// is ever sent to that number again, and the event is re-registered on a fresh descriptor
    /// and sent there. If none can be opened, the event is dropped with
    /// [`WriteError::DescriptorLost`] (counted).
    ///
    /// The kernel's `EBADF` (disabled between the check and the call) is also
    /// [`WriteOutcome::NotEnabled`], once the descriptor's identity has been checked.
    ///
    /// # Errors
    ///
    /// [`WriteError`] on a value that does not fit the format (never a panic), when `writev`
    /// fails otherwise, or when the descriptor is lost. Hot paths usually ignore the result;
    /// [`write_stats`](Self::write_stats) counts the failures.
    #[inline]
    pub fn write(&self, values: &[Value<'_>]) -> Result<WriteOutcome, WriteError> {
        if self.word().snapshot().raw() & KERNEL_MASK == 0 {
            return Ok(WriteOutcome::NotEnabled);
        }
        self.write_always(values)
    }

    /// [`write`](Self::write) without the bit-31 check: always issues the `writev`, so the
    /// kernel decides (`EBADF` when disabled). For tests and benchmarks.
    ///
    /// # Errors
    ///
    /// As [`write`](Self::write).
    pub fn write_always(&self, values: &[Value<'_>]) -> Result<WriteOutcome, WriteError> {
        let result = self.send_checked(values);
        self.stats.count(&result);
        result
    }

    /// [`write`](Self::write) for values whose variants already match the format's field types
    /// in order, as `provider!` proves at compile time: the path of `fire!`.
    ///
    /// Nothing is checked per value and nothing is copied but the fixed part: the write index,
    /// the integers and the `__data_loc` words go into one small stack buffer, and each string
    /// (then its NUL) or byte slice is its own iovec, all sent with one `writev`. Inlined with
    /// values built at the call site, the matches on the variants are resolved at compile time.
    /// A payload over [`MAX_PAYLOAD`], a [`Value::Chars`] (which needs its field's length), the
    /// check of [`verify_descriptor_before_each_write`], a descriptor to renew and every error
    /// take [`write`](Self::write)'s own path, so truncation, the descriptor identity check and
    /// [`write_stats`](Self::write_stats) are the same.
    ///
    /// Values whose variants do NOT match the fields are not detected here: the kernel then
    /// refuses the write (`EINVAL`, counted as failed) or records wrong values. Never undefined
    /// behaviour, never a panic. Use [`write`](Self::write) for values only known at run time.
    ///
    /// # Errors
    ///
    /// As [`write`](Self::write).
    #[inline(always)]
    pub fn write_typed<const N: usize>(
        &self,
        values: &[Value<'_>; N],
    ) -> Result<WriteOutcome, WriteError> {
        if self.word().snapshot().raw() & KERNEL_MASK == 0 {
            return Ok(WriteOutcome::NotEnabled);
        }
        // Known at compile time when the values are built at the call site.
        let fixed_size: usize = values.iter().map(typed_fixed_len).sum();
        let payload = fixed_size + values.iter().map(dynamic_len).sum::<usize>();
        if N > TYPED_MAX_FIELDS
            || values.iter().any(|v| matches!(v, Value::Chars(_)))
            || payload > MAX_PAYLOAD
        {
            return self.write_checked_cold(*values); // cut to fit there
        }
        let current = self.data().current();
        let (generation, index) = self.slot();
        // The generations compared as the high halves of the two words (one xor, one shift).
        let same_generation = ((u64::from(current.generation) << 32
            | u64::from(current.fd as u32))
            ^ (u64::from(generation) << 32 | u64::from(index)))
            >> 32
            == 0;
        if current.fd < 0 || !same_generation || VERIFY_EACH_WRITE.load(Ordering::Relaxed) {
            return self.write_checked_cold(*values); // renewed or verified there
        }
        // The fixed part: write index, integers, `size << 16 | offset` words.
        let mut head = StackBuf::<{ 4 + 8 * TYPED_MAX_FIELDS }>::new();
        head.push(&index.to_ne_bytes());
        let mut dynamic_at = fixed_size;
        for value in values {
            // Every push fits: at most 8 bytes per value, at most TYPED_MAX_FIELDS values.
            match *value {
                Value::U8(v) => head.push(&v.to_ne_bytes()),
                Value::U16(v) => head.push(&v.to_ne_bytes()),
                Value::U32(v) => head.push(&v.to_ne_bytes()),
                Value::U64(v) => head.push(&v.to_ne_bytes()),
                Value::S8(v) => head.push(&v.to_ne_bytes()),
                Value::S16(v) => head.push(&v.to_ne_bytes()),
                Value::S32(v) => head.push(&v.to_ne_bytes()),
                Value::S64(v) => head.push(&v.to_ne_bytes()),
                Value::Str(_) | Value::Bytes(_) => {
                    let len = dynamic_len(value);
                    // From the record's start; both fit 16 bits (payload checked).
                    let offset = TRACE_ENTRY_SIZE + dynamic_at;
                    dynamic_at += len;
                    head.push(&(((len as u32) << 16) | offset as u32).to_ne_bytes())
                }
                Value::Chars(_) => true, // never here: taken by the checked path above
            };
        }
        let mut iov = IoVecs::<{ 1 + 2 * TYPED_MAX_FIELDS }>::new();
        iov.push(head.as_slice());
        for value in values {
            match *value {
                Value::Str(s) => iov.push(s.as_bytes()) && iov.push(b"\0"),
                Value::Bytes(b) => iov.push(b),
                _ => true,
            };
        }
        match iov.writev(current.fd) {
            Ok(_) => Ok(WriteOutcome::Written),
            // From what was built, not the values: nothing else stays live across writev.
            Err(errno) => self.typed_failed(current, errno, &iov),
        }
    }

    /// [`write_always`](Self::write_always) out of line, for [`write_typed`](Self::write_typed)'s
    /// rare cases. The values come by value so that they are copied on this cold path only.
    #[cold]
    #[inline(never)]
    fn write_checked_cold<const N: usize>(
        &self,
        values: [Value<'_>; N],
    ) -> Result<WriteOutcome, WriteError> {
        self.write_always(&values)
    }

    /// [`write_typed`](Self::write_typed) after `writev(current.fd, sent)` failed with `errno`:
    /// as [`write`](Self::write) does, an error is believed only from our own file (`EBADF` is
    /// then "not enabled"); a descriptor no longer ours is renewed and the same iovecs sent
    /// again with the fresh write index. Counted.
    #[cold]
    #[inline(never)]
    fn typed_failed<const V: usize>(
        &self,
        current: Current,
        errno: Errno,
        sent: &IoVecs<'_, V>,
    ) -> Result<WriteOutcome, WriteError> {
        let result = if self.data().is_ours(current.fd) {
            if errno == Errno::BADF {
                Ok(WriteOutcome::NotEnabled)
            } else {
                Err(WriteError::Kernel(errno))
            }
        } else {
            self.typed_resend(current, sent)
        };
        self.stats.count(&result);
        result
    }

    /// [`send_renewed`](Self::send_renewed) for iovecs built by
    /// [`write_typed`](Self::write_typed): the first starts with the write index.
    fn typed_resend<const V: usize>(
        &self,
        seen: Current,
        sent: &IoVecs<'_, V>,
    ) -> Result<WriteOutcome, WriteError> {
        let Some(current) = self.data().renew(seen) else {
            return Err(WriteError::DescriptorLost);
        };
        match self.renew(current) {
            Ok(true) => {}
            Ok(false) => return Err(WriteError::DescriptorLost),
            Err(errno) => return Err(WriteError::Kernel(errno)),
        }
        // Registering wrote the event's current state into bit 31.
        if self.word().snapshot().raw() & KERNEL_MASK == 0 {
            return Ok(WriteOutcome::NotEnabled);
        }
        let mut slices = sent.slices();
        let old_head = slices.next().unwrap_or_default();
        let mut head = StackBuf::<{ 4 + 8 * TYPED_MAX_FIELDS }>::new();
        head.push(&self.slot().1.to_ne_bytes());
        head.push(old_head.get(4..).unwrap_or_default());
        let mut iov = IoVecs::<V>::new();
        iov.push(head.as_slice());
        for slice in slices {
            iov.push(slice);
        }
        match iov.writev(current.fd) {
            Ok(_) => Ok(WriteOutcome::Written),
            Err(Errno::BADF) if self.data().is_ours(current.fd) => Ok(WriteOutcome::NotEnabled),
            Err(errno) => Err(WriteError::Kernel(errno)),
        }
    }

    /// Counts of truncated, dropped and failed writes of this registration since it was made.
    pub fn write_stats(&self) -> WriteStats {
        WriteStats {
            truncated: self.stats.truncated.load(Ordering::Relaxed),
            dropped: self.stats.dropped.load(Ordering::Relaxed),
            failed: self.stats.failed.load(Ordering::Relaxed),
        }
    }

    #[inline(always)]
    fn send_checked(&self, values: &[Value<'_>]) -> Result<WriteOutcome, WriteError> {
        let current = self.data().current();
        let (generation, index) = self.slot();
        if current.fd < 0
            || generation != current.generation
            || (VERIFY_EACH_WRITE.load(Ordering::Relaxed) && !self.data().is_ours(current.fd))
        {
            return self.send_renewed(current, values);
        }
        match send(current.fd, index, self.format(), values) {
            Err(WriteError::Kernel(errno)) => {
                // An error is believed only from our own file.
                if self.data().is_ours(current.fd) {
                    if errno == Errno::BADF {
                        Ok(WriteOutcome::NotEnabled)
                    } else {
                        Err(WriteError::Kernel(errno))
                    }
                } else {
                    self.send_renewed(current, values)
                }
            }
            other => other,
        }
    }

    /// The slow path after the descriptor `seen` turned out closed, replaced, or newer than
    /// this registration: renew both, then send once.
    #[cold]
    fn send_renewed(
        &self,
        seen: Current,
        values: &[Value<'_>],
    ) -> Result<WriteOutcome, WriteError> {
        let Some(current) = self.data().renew(seen) else {
            return Err(WriteError::DescriptorLost);
        };
        match self.renew(current) {
            Ok(true) => {}
            Ok(false) => return Err(WriteError::DescriptorLost),
            Err(errno) => return Err(WriteError::Kernel(errno)),
        }
        // Registering wrote the event's current state into bit 31.
        if self.word().snapshot().raw() & KERNEL_MASK == 0 {
            return Ok(WriteOutcome::NotEnabled);
        }
        match send(current.fd, self.slot().1, self.format(), values) {
            Err(WriteError::Kernel(Errno::BADF)) if self.data().is_ours(current.fd) => {
                Ok(WriteOutcome::NotEnabled)
            }
            other => other,
        }
    }
}

/// How many bytes of a dynamic value are sent when it is cut to `take` bytes (NUL included
/// for strings): `(kept data, mark)`.
#[inline]
fn cut<'a>(value: &Value<'a>, take: usize) -> (&'a [u8], &'static [u8]) {
    match *value {
        Value::Str(s) if s.len() < take => (s.as_bytes(), b""),
        Value::Str(s) => {
            let room = take.saturating_sub(1); // the NUL
            let (room, mark) = if room > TRUNCATION_MARK.len() {
                (room - TRUNCATION_MARK.len(), TRUNCATION_MARK.as_bytes())
            } else {
                (room, &b""[..])
            };
            let mut end = room.min(s.len());
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            (&s.as_bytes()[..end], mark)
        }
        Value::Bytes(b) => (&b[..take.min(b.len())], b""),
        _ => (&[], b""),
    }
}

/// The largest share `c` such that giving each dynamic value `min(len, c)` bytes (at least 1
/// for a string's NUL) fits `budget`; `None` when not even that fits.
fn share(values: &[Value<'_>], budget: usize) -> Option<usize> {
    let need = |c: usize| -> usize {
        values
            .iter()
            .map(|v| match v {
                Value::Str(_) => dynamic_len(v).min(c).max(1),
                Value::Bytes(_) => dynamic_len(v).min(c),
                _ => 0,
            })
            .sum()
    };
    if need(0) > budget {
        return None;
    }
    let (mut lo, mut hi) = (0, MAX_PAYLOAD);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if need(mid) <= budget {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Some(lo)
}

/// Checks `values` against `format` and sends `[write_index, payload]` to `fd` with one
/// `writev` (see [`Registration::write`]'s payload layout and oversized events). Kernel
/// errors, `EBADF` included, are returned as [`WriteError::Kernel`].
#[inline]
fn send(
    fd: RawFd,
    write_index: u32,
    format: &EventFormat,
    values: &[Value<'_>],
) -> Result<WriteOutcome, WriteError> {
    let mut buf = StackBuf::<BUFFER>::new();
    // Whole values: the usual case, with every cut branch compiled out.
    if build(&mut buf, write_index, format, values, usize::MAX)? > MAX_PAYLOAD {
        return send_cut(fd, write_index, format, values);
    }
    let mut iov = IoVecs::<1>::new();
    iov.push(buf.as_slice());
    match iov.writev(fd) {
        Ok(_) => Ok(WriteOutcome::Written),
        Err(errno) => Err(WriteError::Kernel(errno)),
    }
}

/// [`send`] for a payload over [`MAX_PAYLOAD`]: the dynamic values are cut to their share.
#[cold]
#[inline(never)]
fn send_cut(
    fd: RawFd,
    write_index: u32,
    format: &EventFormat,
    values: &[Value<'_>],
) -> Result<WriteOutcome, WriteError> {
    let budget = MAX_PAYLOAD.saturating_sub(format.fixed_size());
    let Some(cap) = share(values, budget) else {
        // Not reachable with a validated format: it leaves room for every string's NUL.
        return Err(WriteError::TooLong {
            index: 0,
            len: format.fixed_size() + values.iter().map(dynamic_len).sum::<usize>(),
            max: MAX_PAYLOAD,
        });
    };
    let mut buf = StackBuf::<BUFFER>::new();
    build(&mut buf, write_index, format, values, cap)?;
    let mut iov = IoVecs::<1>::new();
    iov.push(buf.as_slice());
    match iov.writev(fd) {
        Ok(_) => Ok(WriteOutcome::Truncated),
        Err(errno) => Err(WriteError::Kernel(errno)),
    }
}

/// Checks `values` against `format` and builds `[write_index, payload]` in `buf`, each
/// dynamic value longer than `cap` bytes cut to `cap`. Returns the payload's size; when it is
/// over [`MAX_PAYLOAD`] (only possible with `cap == usize::MAX`), `buf` holds the fixed part
/// only and must not be sent.
#[inline(always)]
fn build(
    buf: &mut StackBuf<BUFFER>,
    write_index: u32,
    format: &EventFormat,
    values: &[Value<'_>],
    cap: usize,
) -> Result<usize, WriteError> {
    let fields = format.fields();
    if values.len() != fields.len() {
        return Err(WriteError::FieldCount {
            expected: fields.len(),
            found: values.len(),
        });
    }
    let sent_len = |value: &Value<'_>| -> usize {
        let len = dynamic_len(value);
        if len <= cap {
            return len;
        }
        let (data, mark) = cut(value, cap.max(1));
        data.len() + mark.len() + usize::from(matches!(value, Value::Str(_)))
    };

    // The fixed part, checking each value against its field on the way.
    buf.push(&write_index.to_ne_bytes());
    let mut dynamic_at = format.fixed_size(); // where the next dynamic data goes
    for (index, (field, value)) in fields.iter().zip(values).enumerate() {
        let ty = field.ty();
        let mismatch = || WriteError::TypeMismatch {
            index,
            expected: ty,
            found: value.kind(),
        };
        // Every push below fits: the fixed part is at most MAX_FIXED_SIZE (checked when the
        // format was built) and BUFFER holds it after the write index.
        match (ty, value) {
            (FieldType::U8, Value::U8(v)) => buf.push(&v.to_ne_bytes()),
            (FieldType::U16, Value::U16(v)) => buf.push(&v.to_ne_bytes()),
            (FieldType::U32, Value::U32(v)) => buf.push(&v.to_ne_bytes()),
            (FieldType::U64, Value::U64(v)) => buf.push(&v.to_ne_bytes()),
            (FieldType::S8, Value::S8(v)) => buf.push(&v.to_ne_bytes()),
            (FieldType::S16, Value::S16(v)) => buf.push(&v.to_ne_bytes()),
            (FieldType::S32, Value::S32(v)) => buf.push(&v.to_ne_bytes()),
            (FieldType::S64, Value::S64(v)) => buf.push(&v.to_ne_bytes()),
            (FieldType::Chars(n), Value::Chars(bytes)) => {
                let n = usize::from(n);
                if bytes.len() > n {
                    return Err(WriteError::TooLong {
                        index,
                        len: bytes.len(),
                        max: n,
                    });
                }
                buf.push(bytes) && buf.push_zeros(n - bytes.len())
            }
            (FieldType::Str, Value::Str(_)) | (FieldType::Bytes, Value::Bytes(_)) => {
                let len = sent_len(value);
                // Offset from the start of the kernel's record (its common header, then the
                // payload). Both fit their 16 bits whenever the payload fits MAX_PAYLOAD, the
                // only case that is sent.
                let offset = TRACE_ENTRY_SIZE + dynamic_at;
                dynamic_at += len;
                buf.push(&(((len as u32) << 16) | offset as u32).to_ne_bytes())
            }
            _ => return Err(mismatch()),
        };
    }
    if dynamic_at > MAX_PAYLOAD {
        return Ok(dynamic_at);
    }

    // Dynamic data; all of it fits the buffer.
    if cap == usize::MAX {
        // Nothing to cut (resolved at compile time in `send`).
        for value in values {
            match value {
                Value::Str(s) => buf.push(s.as_bytes()) && buf.push(&[0]),
                Value::Bytes(b) => buf.push(b),
                _ => true,
            };
        }
        return Ok(dynamic_at);
    }
    // Cut to `cap` where longer.
    for value in values {
        let (data, mark, nul): (&[u8], &[u8], bool) = match value {
            Value::Str(s) if s.len() < cap => (s.as_bytes(), b"", true),
            Value::Bytes(b) if b.len() <= cap => (b, b"", false),
            Value::Str(_) | Value::Bytes(_) => {
                let (data, mark) = cut(value, cap.max(1));
                (data, mark, matches!(value, Value::Str(_)))
            }
            _ => continue,
        };
        buf.push(data);
        buf.push(mark);
        if nul {
            buf.push(&[0]);
        }
    }
    Ok(dynamic_at)
}

/// Bytes a dynamic value takes in the payload (strings with their NUL).
#[inline(always)]
fn dynamic_len(value: &Value<'_>) -> usize {
    match value {
        Value::Str(s) => s.len() + 1,
        Value::Bytes(b) => b.len(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends through a socket pair and returns the bytes the kernel would have received.
    fn sent(format: &EventFormat, values: &[Value<'_>]) -> Result<Vec<u8>, WriteError> {
        use std::io::Read;
        use std::os::fd::AsRawFd;
        let (tx, mut rx) = std::os::unix::net::UnixStream::pair().unwrap();
        let result = send(tx.as_raw_fd(), 0x0102_0304, format, values);
        drop(tx);
        let mut out = Vec::new();
        rx.read_to_end(&mut out).unwrap();
        result.map(|_| out)
    }

    fn bytes(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    const INDEX: [u8; 4] = 0x0102_0304u32.to_ne_bytes();

    #[test]
    fn fixed_then_data_loc_then_data() {
        let f = EventFormat::with_fields(
            "ev",
            &[
                ("a", FieldType::U32),
                ("b", FieldType::U64),
                ("s", FieldType::Str),
            ],
        )
        .unwrap();
        let got = sent(&f, &[Value::U32(7), Value::U64(9), Value::Str("hi")]).unwrap();
        // s: 3 bytes ("hi\0") after the fixed part (16 bytes), counted from the record's start.
        let rel = ((3u32 << 16) | (8 + 16)).to_ne_bytes();
        let want = bytes(&[
            &INDEX,
            &7u32.to_ne_bytes(),
            &9u64.to_ne_bytes(),
            &rel,
            b"hi\0",
        ]);
        assert_eq!(got, want);
    }

    #[test]
    fn every_integer_type_and_padded_chars() {
        let f = EventFormat::with_fields(
            "ev",
            &[
                ("a", FieldType::U8),
                ("b", FieldType::S8),
                ("c", FieldType::U16),
                ("d", FieldType::S16),
                ("e", FieldType::S32),
                ("g", FieldType::S64),
                ("h", FieldType::Chars(4)),
            ],
        )
        .unwrap();
        let got = sent(
            &f,
            &[
                Value::U8(1),
                Value::S8(-1),
                Value::U16(0x0203),
                Value::S16(-2),
                Value::S32(-3),
                Value::S64(-4),
                Value::Chars(b"xy"),
            ],
        )
        .unwrap();
        let want = bytes(&[
            &INDEX,
            &[1],
            &[0xff],
            &0x0203u16.to_ne_bytes(),
            &(-2i16).to_ne_bytes(),
            &(-3i32).to_ne_bytes(),
            &(-4i64).to_ne_bytes(),
            b"xy\0\0",
        ]);
        assert_eq!(got, want);
    }

    #[test]
    fn second_dynamic_field_offset_counts_the_first() {
        let f = EventFormat::with_fields(
            "ev",
            &[
                ("s", FieldType::Str),
                ("k", FieldType::Bytes),
                ("n", FieldType::U8),
            ],
        )
        .unwrap();
        let got = sent(
            &f,
            &[Value::Str("abc"), Value::Bytes(&[9, 8]), Value::U8(5)],
        )
        .unwrap();
        // Fixed part: s word (0..4), k word (4..8), n (8..9); data at 9: "abc\0" then [9, 8].
        let s_rel = ((4u32 << 16) | (8 + 9)).to_ne_bytes();
        let k_rel = ((2u32 << 16) | (8 + 9 + 4)).to_ne_bytes();
        let want = bytes(&[&INDEX, &s_rel, &k_rel, &[5], b"abc\0", &[9, 8]]);
        assert_eq!(got, want);
    }

    #[test]
    fn oversized_data_is_cut_to_fit_keeping_small_fields_whole() {
        let f = EventFormat::with_fields(
            "ev",
            &[
                ("small", FieldType::Str),
                ("big", FieldType::Bytes),
                ("after", FieldType::Str),
            ],
        )
        .unwrap();
        let big: Vec<u8> = (0..6000u32).map(|i| i as u8).collect();
        let got = sent(
            &f,
            &[Value::Str("x"), Value::Bytes(&big), Value::Str("tail")],
        )
        .unwrap();
        // 4064 - 12 (fixed) - 2 ("x\0") - 5 ("tail\0") = 4045 bytes left for `big`.
        let small_rel = ((2u32 << 16) | (8 + 12)).to_ne_bytes();
        let big_rel = ((4045u32 << 16) | (8 + 12 + 2)).to_ne_bytes();
        let after_rel = ((5u32 << 16) | (8 + 12 + 2 + 4045)).to_ne_bytes();
        let want = bytes(&[
            &INDEX,
            &small_rel,
            &big_rel,
            &after_rel,
            b"x\0",
            &big[..4045],
            b"tail\0",
        ]);
        assert_eq!(got.len(), 4 + MAX_PAYLOAD);
        assert_eq!(got, want);
    }

    #[test]
    fn oversized_fields_share_the_room_and_strings_end_with_the_mark() {
        let f = EventFormat::with_fields("ev", &[("s", FieldType::Str), ("b", FieldType::Bytes)])
            .unwrap();
        let (s, b) = ("y".repeat(70_000), vec![7u8; 70_000]);
        let got = sent(&f, &[Value::Str(&s), Value::Bytes(&b)]).unwrap();
        assert_eq!(got.len(), 4 + MAX_PAYLOAD);
        let word = |at: usize| u32::from_ne_bytes(got[at..at + 4].try_into().unwrap());
        let (s_len, b_len) = ((word(4) >> 16) as usize, (word(8) >> 16) as usize);
        assert_eq!((s_len, b_len), (2028, 2028), "(4064 - 8) / 2 each");
        let s_data = &got[12..12 + s_len];
        assert!(s_data.ends_with(b"[truncated]\0"));
        assert!(s_data[..s_len - 12].iter().all(|&c| c == b'y'));
        assert!(got[12 + s_len..].iter().all(|&c| c == 7));
    }

    #[test]
    fn a_cut_string_stays_valid_utf8() {
        let f = EventFormat::with_fields("ev", &[("s", FieldType::Str)]).unwrap();
        // 3-byte characters: 4064 - 4 - 1 (NUL) - 11 (mark) = 4048 bytes, a multiple of 3 + 1.
        let s = "\u{20ac}".repeat(3000);
        let got = sent(&f, &[Value::Str(&s)]).unwrap();
        let len = (u32::from_ne_bytes(got[4..8].try_into().unwrap()) >> 16) as usize;
        let text = core::str::from_utf8(&got[8..8 + len - 1]).expect("valid UTF-8");
        assert!(text.ends_with(TRUNCATION_MARK));
        assert_eq!(
            text.len(),
            4047 + TRUNCATION_MARK.len(),
            "4048 rounded down to 3s"
        );
        assert_eq!(got[8 + len - 1], 0);
    }

    #[test]
    fn mismatches_are_errors_not_panics() {
        let f =
            EventFormat::with_fields("ev", &[("a", FieldType::Chars(2)), ("s", FieldType::Str)])
                .unwrap();
        assert_eq!(
            sent(&f, &[]),
            Err(WriteError::FieldCount {
                expected: 2,
                found: 0
            })
        );
        assert_eq!(
            sent(&f, &[Value::Str("a"), Value::Str("b")]),
            Err(WriteError::TypeMismatch {
                index: 0,
                expected: FieldType::Chars(2),
                found: "Str"
            })
        );
        assert_eq!(
            sent(&f, &[Value::Chars(b"abc"), Value::Str("b")]),
            Err(WriteError::TooLong {
                index: 0,
                len: 3,
                max: 2
            })
        );
        let long = "z".repeat(70_000);
        let got = sent(&f, &[Value::Chars(b"ab"), Value::Str(&long)]).unwrap();
        assert_eq!(got.len(), 4 + MAX_PAYLOAD, "cut to fit, not refused");
        assert!(got.ends_with(b"zz[truncated]\0"));
        assert_eq!(
            sent(&f, &[Value::Chars(b"ab"), Value::Bytes(b"")]),
            Err(WriteError::TypeMismatch {
                index: 1,
                expected: FieldType::Str,
                found: "Bytes"
            })
        );
    }

    /// Not a test: a loop for `valgrind --tool=callgrind` to count the write path's
    /// instructions (`cargo test --release -p cotrace-kernel --lib -- --ignored count_send`).
    #[test]
    #[ignore = "instruction-count harness for callgrind"]
    fn count_send() {
        use std::os::fd::AsRawFd;
        let null = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .unwrap();
        let f = EventFormat::with_fields(
            "ev",
            &[
                ("a", FieldType::U32),
                ("b", FieldType::U64),
                ("s", FieldType::Str),
            ],
        )
        .unwrap();
        for i in 0..10_000u32 {
            let values = [Value::U32(i), Value::U64(2), Value::Str("hello world")];
            let r = send(null.as_raw_fd(), 1, &f, std::hint::black_box(&values));
            assert_eq!(r, Ok(WriteOutcome::Written));
        }
    }

    #[test]
    fn kernel_errors_ebadf_included_come_back_raw() {
        // EBADF means "disabled" only from our own descriptor: the caller checks that.
        let f = EventFormat::new("ev").unwrap();
        assert_eq!(send(-1, 0, &f, &[]), Err(WriteError::Kernel(Errno::BADF)));
    }
}
