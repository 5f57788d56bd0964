//! Field types: which Rust types an event can carry, and how each tracer records them.
//!
//! | Rust type | [`FieldKind`] | LTTng-UST | user_events |
//! | --- | --- | --- | --- |
//! | `u8` `u16` `u32` `u64` | `U8`..`U64` | unsigned integer, same width | `u8`..`u64` |
//! | `i8` `i16` `i32` `i64` | `I8`..`I64` | signed integer, same width | `s8`..`s64` |
//! | `usize` / `isize` | `U64` / `I64` | 64-bit integer | `u64` / `s64` |
//! | `bool` | `Bool` | 8-bit unsigned integer (0/1) | `u8` (0/1) |
//! | `f32` / `f64` | `F32` / `F64` | float / double | `u32` / `u64`: the IEEE-754 bits (user_events has no float type) |
//! | `&str` | `Str` | string | `__data_loc char[]` (NUL-terminated) |
//! | `&[u8]` | `Bytes` | sequence of `u8` | `__data_loc u8[]` |
//!
//! Any other type is a compile error naming the supported ones.
//!
//! user_events records an event only up to 4064 bytes of fields (ftrace's ring-buffer page):
//! larger `&str`/`&[u8]` values are cut to fit, strings ending with `[truncated]`, and
//! counted in [`KernelWrites`](crate::KernelWrites). ftrace's `trace` file prints `&[u8]` as
//! bytes, but `perf script` and `trace-cmd report` print the kernel's format, a number: use
//! `trace-cmd report -R` or a perf Python script (`cotrace-kernel`'s README has one).

/// The type of one field, as declared in [`provider!`](crate::provider).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FieldKind {
    /// `u8`.
    U8,
    /// `u16`.
    U16,
    /// `u32`.
    U32,
    /// `u64` (and `usize`).
    U64,
    /// `i8`.
    I8,
    /// `i16`.
    I16,
    /// `i32`.
    I32,
    /// `i64` (and `isize`).
    I64,
    /// `bool`.
    Bool,
    /// `f32`.
    F32,
    /// `f64`.
    F64,
    /// `&str`: a UTF-8 string of any length.
    Str,
    /// `&[u8]`: a byte sequence of any length.
    Bytes,
}

impl FieldKind {
    /// The Rust type this kind is declared with, for messages and listings.
    pub const fn rust_type(self) -> &'static str {
        match self {
            Self::U8 => "u8",
            Self::U16 => "u16",
            Self::U32 => "u32",
            Self::U64 => "u64",
            Self::I8 => "i8",
            Self::I16 => "i16",
            Self::I32 => "i32",
            Self::I64 => "i64",
            Self::Bool => "bool",
            Self::F32 => "f32",
            Self::F64 => "f64",
            Self::Str => "&str",
            Self::Bytes => "&[u8]",
        }
    }
}

/// One field's value at a call site, borrowed from the caller for the duration of the event.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Value<'a> {
    /// An unsigned integer of the given kind.
    U8(u8),
    /// See [`FieldKind::U16`].
    U16(u16),
    /// See [`FieldKind::U32`].
    U32(u32),
    /// See [`FieldKind::U64`].
    U64(u64),
    /// See [`FieldKind::I8`].
    I8(i8),
    /// See [`FieldKind::I16`].
    I16(i16),
    /// See [`FieldKind::I32`].
    I32(i32),
    /// See [`FieldKind::I64`].
    I64(i64),
    /// See [`FieldKind::Bool`].
    Bool(bool),
    /// See [`FieldKind::F32`].
    F32(f32),
    /// See [`FieldKind::F64`].
    F64(f64),
    /// See [`FieldKind::Str`].
    Str(&'a str),
    /// See [`FieldKind::Bytes`].
    Bytes(&'a [u8]),
}

impl Value<'_> {
    /// The [`FieldKind`] this value fits.
    pub const fn kind(&self) -> FieldKind {
        match self {
            Self::U8(_) => FieldKind::U8,
            Self::U16(_) => FieldKind::U16,
            Self::U32(_) => FieldKind::U32,
            Self::U64(_) => FieldKind::U64,
            Self::I8(_) => FieldKind::I8,
            Self::I16(_) => FieldKind::I16,
            Self::I32(_) => FieldKind::I32,
            Self::I64(_) => FieldKind::I64,
            Self::Bool(_) => FieldKind::Bool,
            Self::F32(_) => FieldKind::F32,
            Self::F64(_) => FieldKind::F64,
            Self::Str(_) => FieldKind::Str,
            Self::Bytes(_) => FieldKind::Bytes,
        }
    }
}

/// A Rust type that can be an event field.
///
/// Implemented for the types in [the table](self); the macros use it to find each field's
/// [`FieldKind`] at compile time and its [`Value`] at a call site. It is sealed: other types are
/// rejected at compile time with a message listing the supported ones.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a cotrace field type",
    label = "unsupported field type",
    note = "supported field types: u8 u16 u32 u64 usize i8 i16 i32 i64 isize bool f32 f64 &str &[u8]"
)]
pub trait Field: sealed::Sealed {
    /// How this type is declared to the tracers.
    const KIND: FieldKind;
    /// The value to record.
    fn value(&self) -> Value<'_>;
}

mod sealed {
    pub trait Sealed {}
}

macro_rules! impl_field {
    ($($ty:ty => $kind:ident($variant:ident $(as $cast:ty)?)),* $(,)?) => {$(
        impl sealed::Sealed for $ty {}
        impl Field for $ty {
            const KIND: FieldKind = FieldKind::$kind;
            #[inline(always)]
            fn value(&self) -> Value<'_> {
                Value::$variant(*self $(as $cast)?)
            }
        }
    )*};
}

impl_field! {
    u8 => U8(U8), u16 => U16(U16), u32 => U32(U32), u64 => U64(U64), usize => U64(U64 as u64),
    i8 => I8(I8), i16 => I16(I16), i32 => I32(I32), i64 => I64(I64), isize => I64(I64 as i64),
    bool => Bool(Bool), f32 => F32(F32), f64 => F64(F64),
}

impl sealed::Sealed for &str {}
impl Field for &str {
    const KIND: FieldKind = FieldKind::Str;
    #[inline(always)]
    fn value(&self) -> Value<'_> {
        Value::Str(self)
    }
}

impl sealed::Sealed for &[u8] {}
impl Field for &[u8] {
    const KIND: FieldKind = FieldKind::Bytes;
    #[inline(always)]
    fn value(&self) -> Value<'_> {
        Value::Bytes(self)
    }
}

/// A field of an event: its name and kind. Built by [`provider!`](crate::provider).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FieldDesc {
    /// The field's name, as written in the declaration.
    pub name: &'static str,
    /// The field's type.
    pub kind: FieldKind,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_values_match() {
        assert_eq!(<usize as Field>::KIND, FieldKind::U64);
        assert_eq!(7usize.value(), Value::U64(7));
        assert_eq!((-1isize).value(), Value::I64(-1));
        assert_eq!("é".value(), Value::Str("é"));
        assert_eq!((&b"ab"[..]).value(), Value::Bytes(b"ab"));
        assert_eq!(<&str as Field>::KIND.rust_type(), "&str");
    }
}
