//! Static descriptions of events and the values an event is fired with.

use cotrace_word::EnableWord;

/// One event: what LTTng shows (`provider:event`, loglevel, fields) and the enable word whose
/// reference count mirrors LTTng's enablement of it.
///
/// Everything is `'static`, so a definition can live in a `static` and be handed to
/// [`register_provider`](crate::register_provider) by reference.
///
/// # Examples
///
/// ```
/// use cotrace_ust::{EventSpec, FieldSpec, FieldType, Loglevel};
/// use cotrace_word::EnableWord;
///
/// static WORD: EnableWord = EnableWord::new();
/// static REQUEST: EventSpec = EventSpec {
///     provider: "my_app",
///     event: "request",
///     loglevel: Loglevel::Info,
///     fields: &[
///         FieldSpec { name: "status", ty: FieldType::U16 },
///         FieldSpec { name: "path", ty: FieldType::Str },
///     ],
///     word: &WORD,
/// };
/// # let _ = &REQUEST;
/// ```
#[derive(Debug)]
pub struct EventSpec {
    /// Provider name: the part before `:` in `lttng enable-event -u provider:event`. A C
    /// identifier (`[A-Za-z_][A-Za-z0-9_]*`); must equal the name given to
    /// [`register_provider`](crate::register_provider).
    pub provider: &'static str,
    /// Event name, a C identifier; `provider:event` is at most 255 bytes.
    pub event: &'static str,
    /// Severity, filtered with `lttng enable-event --loglevel`.
    pub loglevel: Loglevel,
    /// Payload fields, in order; at most [`MAX_FIELDS`](crate::MAX_FIELDS).
    pub fields: &'static [FieldSpec],
    /// The event's enable word. LTTng's enablement of this event adds 1 to its user count per
    /// attached session or trigger.
    pub word: &'static EnableWord,
}

/// One payload field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    /// Field name as babeltrace2 and `--filter` see it: a C identifier, unique in its event,
    /// not starting with `_` (LTTng names the hidden length field of a [`FieldType::Bytes`]
    /// field `_<name>_length`).
    pub name: &'static str,
    /// Field type.
    pub ty: FieldType,
}

/// The type of a payload field, as LTTng records it.
///
/// | type | value | CTF type in the trace | in `--filter` |
/// |---|---|---|---|
/// | `I8`..`I64` | [`Value::I8`]..[`Value::I64`] | signed integer of that size | integer |
/// | `U8`..`U64` | [`Value::U8`]..[`Value::U64`] | unsigned integer | integer |
/// | `Bool` | [`Value::Bool`] | unsigned 8-bit integer, 0 or 1 | integer |
/// | `F32`, `F64` | [`Value::F32`], [`Value::F64`] | floating point | double |
/// | `Str` | [`Value::Str`] | UTF-8 string (cut at an interior NUL, as C's `strlen`) | string |
/// | `Bytes` | [`Value::Bytes`] | `_<name>_length` (u32) then a sequence of u8 | not usable |
/// | `ByteArray(n)` | [`Value::Bytes`] of exactly `n` bytes | array of `n` u8 | not usable |
/// | `Enum(labels)` | [`Value::Enum`] | enumeration over a signed 64-bit integer | integer |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// `i8`.
    I8,
    /// `i16`.
    I16,
    /// `i32`.
    I32,
    /// `i64`.
    I64,
    /// `u8`.
    U8,
    /// `u16`.
    U16,
    /// `u32`.
    U32,
    /// `u64`.
    U64,
    /// `bool`, recorded as an unsigned 8-bit integer (LTTng-UST 2.13 has no boolean type).
    Bool,
    /// `f32`.
    F32,
    /// `f64`.
    F64,
    /// A string.
    Str,
    /// A byte sequence of any length up to `u32::MAX` (in practice, what fits in a sub-buffer).
    Bytes,
    /// A byte array of a fixed length (at most [`MAX_ARRAY_LEN`](crate::MAX_ARRAY_LEN)).
    ByteArray(usize),
    /// A signed 64-bit integer shown with the label of the range it falls in (values outside
    /// every range are recorded too, without a label). At least one label.
    Enum(&'static [EnumLabel]),
}

/// One label of an [`FieldType::Enum`] field: the values `start..=end` are shown as `label`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnumLabel {
    /// The label (non-empty, no NUL).
    pub label: &'static str,
    /// First value of the range.
    pub start: i64,
    /// Last value of the range (inclusive, `>= start`).
    pub end: i64,
}

/// LTTng-UST loglevels (`lttng/tracepoint.h`), most severe first. `lttng enable-event
/// --loglevel=INFO` enables events at `Info` or more severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(i32)]
pub enum Loglevel {
    /// System is unusable (`TRACE_EMERG`).
    Emerg = 0,
    /// Action must be taken immediately (`TRACE_ALERT`).
    Alert = 1,
    /// Critical conditions (`TRACE_CRIT`).
    Crit = 2,
    /// Error conditions (`TRACE_ERR`).
    Err = 3,
    /// Warning conditions (`TRACE_WARNING`).
    Warning = 4,
    /// Normal but significant condition (`TRACE_NOTICE`).
    Notice = 5,
    /// Informational message (`TRACE_INFO`).
    Info = 6,
    /// Debug information, system level (`TRACE_DEBUG_SYSTEM`).
    DebugSystem = 7,
    /// Debug information, program level (`TRACE_DEBUG_PROGRAM`).
    DebugProgram = 8,
    /// Debug information, process level (`TRACE_DEBUG_PROCESS`).
    DebugProcess = 9,
    /// Debug information, module level (`TRACE_DEBUG_MODULE`).
    DebugModule = 10,
    /// Debug information, unit level (`TRACE_DEBUG_UNIT`).
    DebugUnit = 11,
    /// Debug information, function level (`TRACE_DEBUG_FUNCTION`).
    DebugFunction = 12,
    /// Debug information, line level (`TRACE_DEBUG_LINE`): LTTng's default for events that
    /// declare none.
    #[default]
    DebugLine = 13,
    /// Debug-level message (`TRACE_DEBUG`).
    Debug = 14,
}

/// A field value for [`EventHandle::fire`](crate::EventHandle::fire). Each variant matches the
/// [`FieldType`] of the same name (`Bytes` also matches `ByteArray(n)` when its length is `n`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// For [`FieldType::I8`].
    I8(i8),
    /// For [`FieldType::I16`].
    I16(i16),
    /// For [`FieldType::I32`].
    I32(i32),
    /// For [`FieldType::I64`].
    I64(i64),
    /// For [`FieldType::U8`].
    U8(u8),
    /// For [`FieldType::U16`].
    U16(u16),
    /// For [`FieldType::U32`].
    U32(u32),
    /// For [`FieldType::U64`].
    U64(u64),
    /// For [`FieldType::Bool`].
    Bool(bool),
    /// For [`FieldType::F32`].
    F32(f32),
    /// For [`FieldType::F64`].
    F64(f64),
    /// For [`FieldType::Str`].
    Str(&'a str),
    /// For [`FieldType::Bytes`] and [`FieldType::ByteArray`].
    Bytes(&'a [u8]),
    /// For [`FieldType::Enum`].
    Enum(i64),
}

impl Value<'_> {
    /// Whether this value can be written as a field of type `ty`.
    #[inline]
    pub fn fits(&self, ty: FieldType) -> bool {
        match (self, ty) {
            (Value::I8(_), FieldType::I8)
            | (Value::I16(_), FieldType::I16)
            | (Value::I32(_), FieldType::I32)
            | (Value::I64(_), FieldType::I64)
            | (Value::U8(_), FieldType::U8)
            | (Value::U16(_), FieldType::U16)
            | (Value::U32(_), FieldType::U32)
            | (Value::U64(_), FieldType::U64)
            | (Value::Bool(_), FieldType::Bool)
            | (Value::F32(_), FieldType::F32)
            | (Value::F64(_), FieldType::F64)
            | (Value::Str(_), FieldType::Str)
            | (Value::Enum(_), FieldType::Enum(_)) => true,
            (Value::Bytes(b), FieldType::Bytes) => b.len() <= u32::MAX as usize,
            (Value::Bytes(b), FieldType::ByteArray(n)) => b.len() == n,
            _ => false,
        }
    }
}
