//! [`EventFormat`] and [`FieldType`]: an event's name and fields, validated and rendered as the
//! kernel's `name_args` string.

use core::ffi::CStr;
use core::fmt;
use core::str::FromStr;

use crate::error::FormatError;

/// Longest `name_args` the kernel accepts, in bytes, terminating NUL included
/// (`MAX_EVENT_DESC`).
pub const MAX_NAME_ARGS: usize = 512;
/// Longest event name this crate accepts (bytes). Leaves room for fields and for the
/// `.<hex id>` suffix the kernel adds to MULTI_FORMAT events.
pub const MAX_NAME_LEN: usize = 255;
/// Most fields an event may have. Bounds the write path's stack arrays.
pub const MAX_FIELDS: usize = 32;
/// Largest `N` of a [`FieldType::Chars`] field (the kernel's limit for `char[N]`).
pub const MAX_CHARS: u16 = 1024;
/// Largest fixed part of an event (integers, `char[N]`, 4 bytes per `__data_loc`, plus one byte
/// per string field for its NUL), in bytes: [`MAX_PAYLOAD`](crate::MAX_PAYLOAD), the largest
/// event every kernel consumer records.
pub const MAX_FIXED_SIZE: usize = 4064;

/// The type of one field, as user_events knows it.
///
/// Integers are written in native byte order. Dynamic fields (`Str`, `Bytes`) are declared as
/// `__data_loc` fields: a 4-byte `size << 16 | offset` word in the fixed part, the data after
/// all fixed fields, the offset counted from the start of the kernel's record (the 8-byte
/// common header, `struct trace_entry`, then the payload).
///
/// # Why `__data_loc`, not `__rel_loc`
///
/// Both decode the same in ftrace (`trace`, filters, `hist:` triggers), `perf script` and
/// `trace-cmd report` on 6.12. But the kernel prints a `__rel_loc` field in the event's
/// `format` file as an array whose length it never sets (`__rel_loc u8 d[2112409024]` in some
/// boots, `d[]` in others), which bpftrace refuses (`unknown type name '__rel_loc'`) and older
/// format-file parsers do not know (`__rel_loc` arrived in 5.18); `__data_loc` fields print as
/// declared (`__data_loc char[] s`). The measured table is in the workspace README.
///
/// # Examples
///
/// ```
/// use cotrace_kernel::FieldType;
///
/// assert_eq!(FieldType::U32.kernel_type(), "u32");
/// assert_eq!(FieldType::Str.to_string(), "__data_loc char[]");
/// assert_eq!("char[16]".parse::<FieldType>().unwrap(), FieldType::Chars(16));
/// assert!("long".parse::<FieldType>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// `u8`
    U8,
    /// `u16`
    U16,
    /// `u32`
    U32,
    /// `u64`
    U64,
    /// `s8`
    S8,
    /// `s16`
    S16,
    /// `s32`
    S32,
    /// `s64`
    S64,
    /// `char[N]`: exactly N bytes in the fixed part (shorter values are padded with NULs).
    /// `1 <= N <= 1024`.
    Chars(u16),
    /// `__data_loc char[]`: a string; the writer appends the terminating NUL the kernel wants
    /// (cut to fit [`MAX_PAYLOAD`](crate::MAX_PAYLOAD), ending with
    /// [`TRUNCATION_MARK`](crate::TRUNCATION_MARK), when the event is larger).
    Str,
    /// `__data_loc u8[]`: a byte slice of any length (cut to fit
    /// [`MAX_PAYLOAD`](crate::MAX_PAYLOAD) when the event is larger). ftrace's `trace` file
    /// prints it as bytes (`d=01,02,ff`); `perf script` and `trace-cmd report` print the
    /// kernel's `print fmt`, which shows the `size << 16 | offset` word as a number: use
    /// `trace-cmd report -R` or a perf Python script (see the crate's README).
    Bytes,
}

impl FieldType {
    /// The kernel's spelling of the type, as written in `name_args` (`"u32"`, `"char[16]"`,
    /// `"__data_loc char[]"`). Allocates only for `Chars`.
    pub fn kernel_type(&self) -> std::borrow::Cow<'static, str> {
        use std::borrow::Cow::Borrowed;
        match self {
            Self::U8 => Borrowed("u8"),
            Self::U16 => Borrowed("u16"),
            Self::U32 => Borrowed("u32"),
            Self::U64 => Borrowed("u64"),
            Self::S8 => Borrowed("s8"),
            Self::S16 => Borrowed("s16"),
            Self::S32 => Borrowed("s32"),
            Self::S64 => Borrowed("s64"),
            Self::Chars(n) => std::borrow::Cow::Owned(format!("char[{n}]")),
            Self::Str => Borrowed("__data_loc char[]"),
            Self::Bytes => Borrowed("__data_loc u8[]"),
        }
    }

    /// Bytes the field takes in the fixed part of the payload (4 for the `__data_loc` word of
    /// dynamic fields).
    pub const fn fixed_size(&self) -> usize {
        match self {
            Self::U8 | Self::S8 => 1,
            Self::U16 | Self::S16 => 2,
            Self::U32 | Self::S32 | Self::Str | Self::Bytes => 4,
            Self::U64 | Self::S64 => 8,
            Self::Chars(n) => *n as usize,
        }
    }

    /// True for `Str` and `Bytes`, whose data follows the fixed part.
    pub const fn is_dynamic(&self) -> bool {
        matches!(self, Self::Str | Self::Bytes)
    }

    fn validate(&self) -> Result<(), FormatError> {
        match *self {
            Self::Chars(n) if n == 0 || n > MAX_CHARS => Err(FormatError::CharsLength { n }),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.kernel_type())
    }
}

impl FromStr for FieldType {
    type Err = FormatError;

    /// Parses the kernel's spellings (`u8`..`u64`, `s8`..`s64`, `char[N]`, `__data_loc char[]`,
    /// `__data_loc u8[]`) and the Rust aliases `i8`..`i64`. Everything else user_events knows
    /// (`int`, `__rel_loc`, `struct`) or does not know (`long`) is
    /// [`FormatError::UnsupportedType`].
    fn from_str(s: &str) -> Result<Self, FormatError> {
        let ty = match s.trim() {
            "u8" => Self::U8,
            "u16" => Self::U16,
            "u32" => Self::U32,
            "u64" => Self::U64,
            "s8" | "i8" => Self::S8,
            "s16" | "i16" => Self::S16,
            "s32" | "i32" => Self::S32,
            "s64" | "i64" => Self::S64,
            "__data_loc char[]" => Self::Str,
            "__data_loc u8[]" => Self::Bytes,
            other => {
                let n = other
                    .strip_prefix("char[")
                    .and_then(|rest| rest.strip_suffix(']'))
                    .filter(|n| {
                        !n.is_empty() && n.len() <= 4 && n.bytes().all(|b| b.is_ascii_digit())
                    })
                    .and_then(|n| n.parse::<u16>().ok());
                match n {
                    Some(n) => Self::Chars(n),
                    None => {
                        return Err(FormatError::UnsupportedType {
                            ty: other.to_owned(),
                        });
                    }
                }
            }
        };
        ty.validate()?;
        Ok(ty)
    }
}

/// One declared field: its name and type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    name: FieldName,
    ty: FieldType,
}

/// Longest field name kept inside [`Field`] itself.
const INLINE_NAME: usize = 22;

/// A field's name: inside the [`Field`] when it fits ([`INLINE_NAME`] bytes, as field names
/// nearly always do), so declaring a field allocates nothing (a `String` each was 3 of a
/// 3-field event's heap allocations, kept for the life of its registration); longer ones on
/// the heap. [`Field`] stays 32 bytes either way (64-bit targets), as with a `String`.
#[derive(Clone, PartialEq, Eq)]
enum FieldName {
    Inline { len: u8, bytes: [u8; INLINE_NAME] },
    Heap(Box<str>),
}

impl FieldName {
    fn new(name: &str) -> Self {
        match u8::try_from(name.len()) {
            Ok(len) if name.len() <= INLINE_NAME => {
                let mut bytes = [0; INLINE_NAME];
                bytes[..name.len()].copy_from_slice(name.as_bytes());
                Self::Inline { len, bytes }
            }
            _ => Self::Heap(name.into()),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Self::Heap(name) => name.as_bytes(),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // Always valid: the whole of a `&str` was copied (never a part of a character).
            Self::Inline { len, bytes } => {
                core::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            Self::Heap(name) => name,
        }
    }
}

impl fmt::Debug for FieldName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Field {
    /// The field's name.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// The field's type.
    pub fn ty(&self) -> FieldType {
        self.ty
    }
}

/// An event's name and typed fields, validated, with its `name_args` string ready for the
/// kernel.
///
/// Every rule the kernel would enforce, and a few of this crate's own, is checked here, before
/// any ioctl, so a bad declaration fails with a [`FormatError`] that says what is wrong:
///
/// - the name: 1 to [`MAX_NAME_LEN`] bytes, ASCII letters, digits and `_`, not starting with a
///   digit (it becomes a tracefs directory and a perf event name);
/// - field names: the same characters, unique within the event, not starting with `common_`
///   (ftrace's own fields);
/// - at most [`MAX_FIELDS`] fields; `char[N]` with `1 <= N <= 1024`; a fixed part of at most
///   [`MAX_FIXED_SIZE`] bytes (counting one byte per string for its NUL), so that every event
///   fits [`MAX_PAYLOAD`](crate::MAX_PAYLOAD);
/// - the whole `name_args` shorter than [`MAX_NAME_ARGS`] bytes.
///
/// Fields are separated by `"; "`, as newer kernels normalise them.
///
/// # Examples
///
/// ```
/// use cotrace_kernel::{EventFormat, FieldType};
///
/// let format = EventFormat::new("request_done")?
///     .field("status", FieldType::U32)?
///     .field("path", FieldType::Str)?;
/// assert_eq!(format.as_str(), "request_done u32 status; __data_loc char[] path");
///
/// let same = EventFormat::with_fields(
///     "request_done",
///     &[("status", FieldType::U32), ("path", FieldType::Str)],
/// )?;
/// assert_eq!(format, same);
/// # Ok::<(), cotrace_kernel::FormatError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventFormat {
    /// `name_args` followed by its NUL (handed to the kernel as is, without a copy); never
    /// holds another NUL (identifiers cannot, [`Self::__raw_unchecked`] refuses one).
    name_args: String,
    name_len: usize,
    fields: Vec<Field>,
    fixed_size: usize,
    dynamic_fields: usize,
    strings: usize,
}

impl EventFormat {
    /// An event with no fields yet.
    ///
    /// # Errors
    ///
    /// [`FormatError::EmptyName`], [`FormatError::NameTooLong`] or
    /// [`FormatError::InvalidName`].
    pub fn new(name: &str) -> Result<Self, FormatError> {
        Self::check_name(name)?;
        Ok(Self::unchecked_with_capacity(name, name.len(), 0))
    }

    /// The checks of [`new`](Self::new).
    fn check_name(name: &str) -> Result<(), FormatError> {
        if name.is_empty() {
            return Err(FormatError::EmptyName);
        }
        if name.len() > MAX_NAME_LEN {
            return Err(FormatError::NameTooLong {
                len: name.len(),
                max: MAX_NAME_LEN,
            });
        }
        check_identifier(name).map_err(|position| FormatError::InvalidName {
            name: name.to_owned(),
            position,
        })
    }

    /// An event named `name` (already checked) with no fields, with room for `name_args` of
    /// `args_capacity` bytes and `fields` fields: [`with_fields`](Self::with_fields) allocates
    /// each buffer once.
    fn unchecked_with_capacity(name: &str, args_capacity: usize, fields: usize) -> Self {
        let mut name_args = String::with_capacity(args_capacity.max(name.len() + 1));
        name_args.push_str(name);
        name_args.push('\0');
        Self {
            name_args,
            name_len: name.len(),
            fields: Vec::with_capacity(fields),
            fixed_size: 0,
            dynamic_fields: 0,
            strings: 0,
        }
    }

    /// Adds a field after the existing ones.
    ///
    /// # Errors
    ///
    /// [`FormatError::InvalidFieldName`], [`FormatError::ReservedFieldName`],
    /// [`FormatError::DuplicateField`], [`FormatError::TooManyFields`],
    /// [`FormatError::CharsLength`], [`FormatError::FixedPartTooLarge`] or
    /// [`FormatError::TooLong`].
    pub fn field(mut self, name: &str, ty: FieldType) -> Result<Self, FormatError> {
        self.add_field(name, ty)?;
        Ok(self)
    }

    /// [`field`](Self::field) in place (no move of the whole format per field).
    fn add_field(&mut self, name: &str, ty: FieldType) -> Result<(), FormatError> {
        check_identifier(name).map_err(|position| FormatError::InvalidFieldName {
            field: name.to_owned(),
            position,
        })?;
        if name.starts_with("common_") {
            return Err(FormatError::ReservedFieldName {
                field: name.to_owned(),
            });
        }
        // By bytes: no UTF-8 check of each name already there.
        if self
            .fields
            .iter()
            .any(|f| f.name.as_bytes() == name.as_bytes())
        {
            return Err(FormatError::DuplicateField {
                field: name.to_owned(),
            });
        }
        if self.fields.len() == MAX_FIELDS {
            return Err(FormatError::TooManyFields { max: MAX_FIELDS });
        }
        ty.validate()?;
        // Each string needs at least its NUL in the payload.
        let strings = self.strings + usize::from(ty == FieldType::Str);
        if self.fixed_size + ty.fixed_size() + strings > MAX_FIXED_SIZE {
            return Err(FormatError::FixedPartTooLarge {
                size: self.fixed_size + ty.fixed_size() + strings,
                max: MAX_FIXED_SIZE,
            });
        }
        let separator = if self.fields.is_empty() { " " } else { "; " };
        let ty_text = ty.kernel_type();
        let len = self.as_str().len() + separator.len() + ty_text.len() + 1 + name.len();
        if len + 1 > MAX_NAME_ARGS {
            return Err(FormatError::TooLong {
                len: len + 1,
                max: MAX_NAME_ARGS,
            });
        }
        self.name_args.pop(); // the NUL, put back after the field
        self.name_args.push_str(separator);
        self.name_args.push_str(&ty_text);
        self.name_args.push(' ');
        self.name_args.push_str(name);
        self.name_args.push('\0');
        self.fixed_size += ty.fixed_size();
        self.dynamic_fields += usize::from(ty.is_dynamic());
        self.strings = strings;
        self.fields.push(Field {
            name: FieldName::new(name),
            ty,
        });
        Ok(())
    }

    /// [`new`](Self::new), then [`field`](Self::field) for each `(name, type)` in order.
    ///
    /// # Errors
    ///
    /// The first error either would return.
    pub fn with_fields(name: &str, fields: &[(&str, FieldType)]) -> Result<Self, FormatError> {
        Self::from_fields(name, fields.iter().copied())
    }

    /// [`with_fields`](Self::with_fields) from any (cloneable) iterator of `(name, type)`: what
    /// a caller whose fields are described in its own type uses, without collecting them first.
    ///
    /// # Errors
    ///
    /// The first error [`new`](Self::new) or [`field`](Self::field) would return.
    ///
    /// # Examples
    ///
    /// ```
    /// use cotrace_kernel::{EventFormat, FieldType};
    ///
    /// let declared = [("status", 4u8), ("bytes", 8)];
    /// let format = EventFormat::from_fields(
    ///     "request_done",
    ///     declared.iter().map(|&(name, size)| {
    ///         (name, if size == 8 { FieldType::U64 } else { FieldType::U32 })
    ///     }),
    /// )?;
    /// assert_eq!(format.as_str(), "request_done u32 status; u64 bytes");
    /// # Ok::<(), cotrace_kernel::FormatError>(())
    /// ```
    pub fn from_fields<'a, I>(name: &str, fields: I) -> Result<Self, FormatError>
    where
        I: IntoIterator<Item = (&'a str, FieldType)>,
        I::IntoIter: Clone,
    {
        // Checks the name; then the buffers are sized once for the whole `name_args` (an
        // estimate: `char[N]` counted at its longest), where growing them field by field
        // reallocated each several times (callgrind, 3 fields: 3,366 instructions a format,
        // more than `register` itself).
        Self::check_name(name)?;
        let fields = fields.into_iter();
        let (mut args, mut count) = (0, 0);
        for (field, ty) in fields.clone() {
            let ty_len = match ty {
                FieldType::Chars(_) => "char[65535]".len(),
                ty => ty.kernel_type().len(),
            };
            args += "; ".len() + ty_len + 1 + field.len();
            count += 1;
        }
        // One more byte: the NUL the kernel reads the string up to.
        let capacity = (name.len() + args + 1).min(MAX_NAME_ARGS);
        let mut format = Self::unchecked_with_capacity(name, capacity, count.min(MAX_FIELDS));
        for (field, ty) in fields {
            format.add_field(field, ty)?;
        }
        Ok(format)
    }

    /// A format from a raw `name_args` string, NOT validated and without fields: a seam for
    /// tests that check how the kernel's own refusals are reported. Not part of the API.
    ///
    /// # Panics
    ///
    /// If `name_args` holds a NUL (no C string could carry it to the kernel).
    #[doc(hidden)]
    pub fn __raw_unchecked(name_args: &str) -> Self {
        assert!(!name_args.contains('\0'), "a NUL in name_args");
        Self {
            name_args: format!("{name_args}\0"),
            name_len: name_args.find(' ').unwrap_or(name_args.len()),
            fields: Vec::new(),
            fixed_size: 0,
            dynamic_fields: 0,
            strings: 0,
        }
    }

    /// The event's name.
    pub fn name(&self) -> &str {
        &self.name_args[..self.name_len]
    }

    /// The fields, in declaration (and payload) order.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// The `name_args` string handed to the kernel, e.g. `"ev u32 a; __data_loc char[] s"`.
    pub fn as_str(&self) -> &str {
        // The NUL is one byte, the last: never part of a character.
        self.name_args.strip_suffix('\0').unwrap_or(&self.name_args)
    }

    /// [`as_str`](Self::as_str) with its NUL, as `DIAG_IOCSREG` reads it: no copy per
    /// registration (the string has exactly one NUL, its last byte).
    pub(crate) fn as_c_str(&self) -> &CStr {
        CStr::from_bytes_until_nul(self.name_args.as_bytes()).unwrap_or_default()
    }

    /// Bytes of the fixed part of the payload (integers, `char[N]`, `__data_loc` words).
    pub fn fixed_size(&self) -> usize {
        self.fixed_size
    }

    /// How many fields are `__data_loc` ([`FieldType::Str`], [`FieldType::Bytes`]).
    pub fn dynamic_fields(&self) -> usize {
        self.dynamic_fields
    }
}

impl fmt::Display for EventFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Checks `[A-Za-z_][A-Za-z0-9_]*`; on failure returns the byte position of the first bad
/// character (0 for an empty string).
fn check_identifier(s: &str) -> Result<(), usize> {
    let bytes = s.as_bytes();
    if bytes.is_empty() {
        return Err(0);
    }
    if bytes[0].is_ascii_digit() {
        return Err(0);
    }
    match bytes
        .iter()
        .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
    {
        Some(p) => Err(p),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_renders_as_the_kernel_spells_it() {
        let all = [
            (FieldType::U8, "u8", 1),
            (FieldType::U16, "u16", 2),
            (FieldType::U32, "u32", 4),
            (FieldType::U64, "u64", 8),
            (FieldType::S8, "s8", 1),
            (FieldType::S16, "s16", 2),
            (FieldType::S32, "s32", 4),
            (FieldType::S64, "s64", 8),
            (FieldType::Chars(20), "char[20]", 20),
            (FieldType::Str, "__data_loc char[]", 4),
            (FieldType::Bytes, "__data_loc u8[]", 4),
        ];
        for (ty, text, size) in all {
            assert_eq!(ty.to_string(), text);
            assert_eq!(ty.fixed_size(), size);
            assert_eq!(text.parse::<FieldType>().unwrap(), ty);
        }
    }

    #[test]
    fn name_args_uses_semicolon_space_and_tracks_sizes() {
        let f = EventFormat::with_fields(
            "ev",
            &[
                ("a", FieldType::U8),
                ("b", FieldType::Chars(3)),
                ("s", FieldType::Str),
                ("d", FieldType::Bytes),
            ],
        )
        .unwrap();
        assert_eq!(
            f.as_str(),
            "ev u8 a; char[3] b; __data_loc char[] s; __data_loc u8[] d"
        );
        assert_eq!(f.name(), "ev");
        assert_eq!(f.fixed_size(), 1 + 3 + 4 + 4);
        assert_eq!(f.dynamic_fields(), 2);
        assert_eq!(EventFormat::new("bare").unwrap().as_str(), "bare");
    }

    #[test]
    fn the_kernel_gets_the_string_with_one_nul_at_its_end() {
        let mut f = EventFormat::new("ev").unwrap();
        assert_eq!(f.as_c_str().to_bytes(), b"ev");
        for (i, ty) in [FieldType::U8, FieldType::Str, FieldType::Chars(7)]
            .into_iter()
            .enumerate()
        {
            f = f.field(&format!("f{i}"), ty).unwrap();
            assert_eq!(f.as_c_str().to_bytes(), f.as_str().as_bytes());
            assert_eq!(f.name_args.matches('\0').count(), 1);
        }
        assert_eq!(f.as_str(), "ev u8 f0; __data_loc char[] f1; char[7] f2");
        assert_eq!(f.to_string(), f.as_str());
        let raw = EventFormat::__raw_unchecked("x u32 a;");
        assert_eq!((raw.as_str(), raw.as_c_str()), ("x u32 a;", c"x u32 a;"));
        assert!(std::panic::catch_unwind(|| EventFormat::__raw_unchecked("x\0y")).is_err());
    }

    #[test]
    fn identifiers() {
        assert_eq!(check_identifier("abc_9"), Ok(()));
        assert_eq!(check_identifier("_x"), Ok(()));
        assert_eq!(check_identifier("9x"), Err(0));
        assert_eq!(check_identifier("a b"), Err(1));
        assert_eq!(check_identifier("a:b"), Err(1));
        assert_eq!(check_identifier("ab;"), Err(2));
    }

    #[test]
    fn field_names_short_and_long_read_back_whole() {
        let short = "a".repeat(INLINE_NAME);
        let long = "b".repeat(INLINE_NAME + 1);
        let f = EventFormat::new("ev")
            .unwrap()
            .field("x", FieldType::U8)
            .unwrap()
            .field(&short, FieldType::U32)
            .unwrap()
            .field(&long, FieldType::Str)
            .unwrap();
        let names: Vec<&str> = f.fields().iter().map(Field::name).collect();
        assert_eq!(names, ["x", short.as_str(), long.as_str()]);
        assert!(matches!(f.fields()[1].name, FieldName::Inline { .. }));
        assert!(matches!(f.fields()[2].name, FieldName::Heap(_)));
        assert_eq!(
            format!("{:?}", f.fields()[0]),
            r#"Field { name: "x", ty: U8 }"#
        );
        #[cfg(target_pointer_width = "64")]
        assert_eq!(core::mem::size_of::<Field>(), 32);
        assert!(matches!(
            f.clone().field(&long, FieldType::U8),
            Err(FormatError::DuplicateField { .. })
        ));
    }
}
