//! The write path: [`Value`]s checked against the format and sent with one `writev`, the
//! write index first, the fixed part next, `__rel_loc` data last, without touching the heap.

use cotrace_word::layout::KERNEL_MASK;

use crate::errno::Errno;
use crate::error::WriteError;
use crate::format::{FieldType, MAX_FIELDS};
use crate::register::Registration;
use crate::sys::IoVecs;

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
pub enum WriteOutcome {
    /// The kernel took the event.
    Written,
    /// Nobody has the event enabled now (bit 31 clear, or the kernel's `EBADF`); nothing was
    /// recorded. Not an error.
    NotEnabled,
}

/// Largest `__rel_loc` size or offset (16 bits each).
const REL_LOC_MAX: usize = u16::MAX as usize;
/// Bytes of write index plus integers and `__rel_loc` words: the scratch part of the payload.
const SCRATCH: usize = 4 + 8 * MAX_FIELDS;
/// iovecs: one per run of scratch, plus per field at most two (a `char[N]` and its padding, or
/// a string and its NUL).
const MAX_IOVECS: usize = 1 + 3 * MAX_FIELDS;

/// NULs for `char[N]` padding and string terminators.
static ZEROS: [u8; crate::format::MAX_CHARS as usize] = [0; crate::format::MAX_CHARS as usize];

impl Registration {
    /// Sends one event with these field values, if the kernel has it enabled.
    ///
    /// Checks bit 31 of the word first (one load): when it is clear nothing is sent and
    /// [`WriteOutcome::NotEnabled`] is returned. Otherwise the values are checked against the
    /// format (count, variants, lengths) and sent with one `writev`: the write index, the fixed
    /// fields in order (`__rel_loc` words for dynamic ones), then the dynamic data. All buffers
    /// are on the stack. The kernel's `EBADF` (disabled between the check and the call) is also
    /// [`WriteOutcome::NotEnabled`].
    ///
    /// # Errors
    ///
    /// [`WriteError`] on a value that does not fit the format (never a panic), or when `writev`
    /// fails otherwise. Hot paths usually ignore the result.
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
        let fields = self.format().fields();
        if values.len() != fields.len() {
            return Err(WriteError::FieldCount {
                expected: fields.len(),
                found: values.len(),
            });
        }

        // Pass 1: the write index, integers and __rel_loc words go to `scratch`; `ends[i]` is
        // where field i's scratch bytes end (equal to the start for char[N]).
        let mut scratch = [0u8; SCRATCH];
        let mut ends = [0usize; MAX_FIELDS];
        scratch[..4].copy_from_slice(&self.write_index().to_ne_bytes());
        let mut used = 4;
        let mut payload_offset = 0; // offset in the payload (after the write index)
        let mut dynamic_at = self.format().fixed_size(); // where the next dynamic data goes
        for (index, (field, value)) in fields.iter().zip(values).enumerate() {
            let ty = field.ty();
            let mismatch = || WriteError::TypeMismatch {
                index,
                expected: ty,
                found: value.kind(),
            };
            let mut put = |bytes: &[u8]| {
                scratch[used..used + bytes.len()].copy_from_slice(bytes);
                used += bytes.len();
            };
            match (ty, value) {
                (FieldType::U8, Value::U8(v)) => put(&v.to_ne_bytes()),
                (FieldType::U16, Value::U16(v)) => put(&v.to_ne_bytes()),
                (FieldType::U32, Value::U32(v)) => put(&v.to_ne_bytes()),
                (FieldType::U64, Value::U64(v)) => put(&v.to_ne_bytes()),
                (FieldType::S8, Value::S8(v)) => put(&v.to_ne_bytes()),
                (FieldType::S16, Value::S16(v)) => put(&v.to_ne_bytes()),
                (FieldType::S32, Value::S32(v)) => put(&v.to_ne_bytes()),
                (FieldType::S64, Value::S64(v)) => put(&v.to_ne_bytes()),
                (FieldType::Chars(n), Value::Chars(bytes)) => {
                    if bytes.len() > usize::from(n) {
                        return Err(WriteError::TooLong {
                            index,
                            len: bytes.len(),
                            max: n.into(),
                        });
                    }
                }
                (FieldType::Str | FieldType::Bytes, Value::Str(_) | Value::Bytes(_)) => {
                    let len = match value {
                        Value::Str(s) if ty == FieldType::Str => s.len() + 1,
                        Value::Bytes(b) if ty == FieldType::Bytes => b.len(),
                        _ => return Err(mismatch()),
                    };
                    // Offset relative to the end of this 4-byte __rel_loc word.
                    let relative = dynamic_at - (payload_offset + 4);
                    if len > REL_LOC_MAX || relative > REL_LOC_MAX {
                        return Err(WriteError::TooLong {
                            index,
                            len,
                            max: REL_LOC_MAX.min(REL_LOC_MAX.saturating_sub(relative)),
                        });
                    }
                    put(&((len as u32) << 16 | relative as u32).to_ne_bytes());
                    dynamic_at += len;
                }
                _ => return Err(mismatch()),
            }
            ends[index] = used;
            payload_offset += ty.fixed_size();
        }

        // Pass 2: iovecs over runs of scratch, char[N] values and their padding, then the
        // dynamic data in field order.
        let mut iov = IoVecs::<MAX_IOVECS>::new();
        let mut run_start = 0;
        for (index, (field, value)) in fields.iter().zip(values).enumerate() {
            if let (FieldType::Chars(n), Value::Chars(bytes)) = (field.ty(), value) {
                let run_end = if index == 0 { 4 } else { ends[index - 1] };
                iov.push(&scratch[run_start..run_end]);
                run_start = run_end;
                iov.push(bytes);
                iov.push(&ZEROS[..usize::from(n) - bytes.len()]);
            }
        }
        iov.push(&scratch[run_start..used]);
        for value in values {
            match value {
                Value::Str(s) => {
                    iov.push(s.as_bytes());
                    iov.push(&ZEROS[..1]);
                }
                Value::Bytes(b) => {
                    iov.push(b);
                }
                _ => {}
            }
        }
        match iov.writev(self.fd()) {
            Ok(_) => Ok(WriteOutcome::Written),
            Err(Errno::BADF) => Ok(WriteOutcome::NotEnabled),
            Err(errno) => Err(WriteError::Kernel(errno)),
        }
    }
}
