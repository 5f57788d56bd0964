//! The write path: [`Value`]s checked against the format and sent with one `writev`, the
//! write index first, the fixed part next, `__rel_loc` data last, without touching the heap.

use cotrace_word::layout::KERNEL_MASK;

use crate::errno::Errno;
use crate::error::WriteError;
use crate::format::EventFormat;
use crate::format::{FieldType, MAX_FIELDS};
use crate::register::Registration;
use crate::sys::{IoVecs, RawFd, StackBuf};

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
/// The stack buffer of a write: the write index, the whole fixed part (at most
/// `MAX_FIXED_SIZE`), and as much dynamic data as fits after it.
const BUFFER: usize = 4096;
/// iovecs: the buffer, then per dynamic field that did not fit its data and a NUL.
const MAX_IOVECS: usize = 1 + 2 * MAX_FIELDS;

const _: () = assert!(4 + crate::format::MAX_FIXED_SIZE <= BUFFER);

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
    /// is copied into one 4 KiB stack buffer, so a typical event is a single iovec; dynamic
    /// data that does not fit is referenced in place by further iovecs (also on the stack).
    /// No heap allocation, ever.
    ///
    /// The kernel's `EBADF` (disabled between the check and the call) is also
    /// [`WriteOutcome::NotEnabled`].
    ///
    /// # Errors
    ///
    /// [`WriteError`] on a value that does not fit the format (never a panic), or when `writev`
    /// fails otherwise. Hot paths usually ignore the result.
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
        send(self.fd(), self.write_index(), self.format(), values)
    }
}

/// Checks `values` against `format` and sends `[write_index, payload]` to `fd` with one
/// `writev` (see [`Registration::write`]'s payload layout).
fn send(
    fd: RawFd,
    write_index: u32,
    format: &EventFormat,
    values: &[Value<'_>],
) -> Result<WriteOutcome, WriteError> {
    {
        let fields = format.fields();
        if values.len() != fields.len() {
            return Err(WriteError::FieldCount {
                expected: fields.len(),
                found: values.len(),
            });
        }

        // The fixed part, checking each value against its field on the way.
        let mut buf = StackBuf::<BUFFER>::new();
        buf.push(&write_index.to_ne_bytes());
        let mut payload_offset = 0; // of the current field, after the write index
        let mut dynamic_at = format.fixed_size(); // where the next dynamic data goes
        for (index, (field, value)) in fields.iter().zip(values).enumerate() {
            let ty = field.ty();
            let mismatch = || WriteError::TypeMismatch {
                index,
                expected: ty,
                found: value.kind(),
            };
            // Every push below fits: the fixed part is at most MAX_FIXED_SIZE (checked when
            // the format was built) and BUFFER holds it after the write index.
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
                    let len = dynamic_len(value);
                    // Offset relative to the end of this 4-byte __rel_loc word.
                    let relative = dynamic_at - (payload_offset + 4);
                    if len > REL_LOC_MAX || relative > REL_LOC_MAX {
                        return Err(WriteError::TooLong {
                            index,
                            len,
                            // Data that would start past 65535 bytes cannot be addressed at all.
                            max: if relative > REL_LOC_MAX {
                                0
                            } else {
                                REL_LOC_MAX
                            },
                        });
                    }
                    dynamic_at += len;
                    buf.push(&(((len as u32) << 16) | relative as u32).to_ne_bytes())
                }
                _ => return Err(mismatch()),
            };
            payload_offset += ty.fixed_size();
        }

        // Dynamic data: copied after the fixed part while it fits; from the first that does
        // not, referenced in place (in order, so offsets stay right).
        let mut spilled_from = values.len();
        for (index, value) in values.iter().enumerate() {
            let fits = match value {
                Value::Str(s) => {
                    buf.remaining() > s.len() && buf.push(s.as_bytes()) && buf.push(&[0])
                }
                Value::Bytes(b) => buf.push(b),
                _ => continue,
            };
            if !fits {
                spilled_from = index;
                break;
            }
        }
        let mut iov = IoVecs::<MAX_IOVECS>::new();
        iov.push(buf.as_slice());
        for value in &values[spilled_from..] {
            match value {
                Value::Str(s) => {
                    iov.push(s.as_bytes());
                    iov.push(&[0]);
                }
                Value::Bytes(b) => {
                    iov.push(b);
                }
                _ => {}
            }
        }
        match iov.writev(fd) {
            Ok(_) => Ok(WriteOutcome::Written),
            Err(Errno::BADF) => Ok(WriteOutcome::NotEnabled),
            Err(errno) => Err(WriteError::Kernel(errno)),
        }
    }
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
    fn fixed_then_rel_loc_then_data() {
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
        // s: 3 bytes ("hi\0") right after its own word: offset 0.
        let rel = (3u32 << 16).to_ne_bytes();
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
        let s_rel = ((4u32 << 16) | (9 - 4)).to_ne_bytes();
        let k_rel = ((2u32 << 16) | (9 + 4 - 8)).to_ne_bytes();
        let want = bytes(&[&INDEX, &s_rel, &k_rel, &[5], b"abc\0", &[9, 8]]);
        assert_eq!(got, want);
    }

    #[test]
    fn data_that_does_not_fit_the_stack_buffer_is_sent_in_place() {
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
        let small_rel = ((2u32 << 16) | (12 - 4)).to_ne_bytes();
        let big_rel = ((6000u32 << 16) | (12 + 2 - 8)).to_ne_bytes();
        let after_rel = ((5u32 << 16) | (12 + 2 + 6000 - 12)).to_ne_bytes();
        let want = bytes(&[
            &INDEX, &small_rel, &big_rel, &after_rel, b"x\0", &big, b"tail\0",
        ]);
        assert_eq!(got.len(), want.len());
        assert_eq!(got, want);
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
        assert_eq!(
            sent(&f, &[Value::Chars(b"ab"), Value::Str(&long)]),
            Err(WriteError::TooLong {
                index: 1,
                len: 70_001,
                max: 65_535
            })
        );
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
    fn a_closed_descriptor_is_reported_as_not_enabled() {
        // EBADF is how the kernel says "disabled"; any EBADF maps to NotEnabled.
        let f = EventFormat::new("ev").unwrap();
        assert_eq!(send(-1, 0, &f, &[]), Ok(WriteOutcome::NotEnabled));
    }
}
