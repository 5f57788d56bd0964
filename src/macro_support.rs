//! What the macros need from this crate, reached through `$crate::__macro_support` so a user
//! crate's own names (even one called `core`) cannot break them.
//!
//! Nothing here is stable API.

#[cfg(target_arch = "x86_64")]
pub use core::arch::asm;
pub use core::{compile_error, concat, module_path, panic, stringify};
pub use linkme::{self, distributed_slice};

/// Without the LTTng adapter nothing records the address: 0.
#[cfg(not(feature = "lttng"))]
pub use crate::__cotrace_no_call_site_ip as call_site_ip;
/// The address of the line that fires an event, for LTTng's `ip` context
/// ([`cotrace_ust::call_site`]); expanded by [`fire!`](crate::fire) on its enabled path only.
#[cfg(feature = "lttng")]
pub use cotrace_ust::call_site_ip;

/// [`call_site_ip!`] without the LTTng adapter: 0. Not API.
#[cfg(not(feature = "lttng"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __cotrace_no_call_site_ip {
    ($($inlined:ident)?) => {
        0usize
    };
}

use crate::event::{Event, EventDesc};
use crate::field::{FieldDesc, FieldKind};

/// Every event declared with [`provider!`](crate::provider) anywhere in the program, collected
/// by the linker.
#[distributed_slice]
pub static EVENTS: [&'static Event];

/// Most fields an event may have (both adapters bound their stack arrays with it).
pub const MAX_FIELDS: usize = 32;
/// Longest `provider:event` (LTTng, `LTTNG_UST_ABI_SYM_NAME_LEN - 1`) and `provider_event`
/// (this crate's user_events limit): the same length, 255 bytes.
pub const MAX_NAME_LEN: usize = 255;
/// Longest field name LTTng takes: `_<name>_length` (the hidden length of a `&[u8]` field)
/// must fit in 255 bytes.
pub const MAX_FIELD_NAME_LEN: usize = MAX_NAME_LEN - 9;
/// Longest user_events description (`name type field; ...`), terminating NUL excluded.
pub const MAX_NAME_ARGS: usize = 511;

/// `name` without the `r#` of a raw identifier: `r#type` is registered as `type`.
pub const fn unraw(name: &'static str) -> &'static str {
    let bytes = name.as_bytes();
    if bytes.len() > 2 && bytes[0] == b'r' && bytes[1] == b'#' {
        match core::str::from_utf8(bytes.split_at(2).1) {
            Ok(rest) => rest,
            Err(_) => name,
        }
    } else {
        name
    }
}

/// `a`, `separator`, `b` as `N` bytes (`N` = their total length): the kernel name.
pub const fn join<const N: usize>(a: &str, separator: u8, b: &str) -> [u8; N] {
    let mut out = [0u8; N];
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut i = 0;
    while i < a.len() {
        out[i] = a[i];
        i += 1;
    }
    out[i] = separator;
    i += 1;
    let mut j = 0;
    while j < b.len() {
        out[i] = b[j];
        i += 1;
        j += 1;
    }
    out
}

/// The bytes of [`join`] as a `str` (they are always UTF-8: two identifiers and `_`).
pub const fn as_str(bytes: &'static [u8]) -> &'static str {
    match core::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(_) => "",
    }
}

/// How user_events spells a field kind (see the table in [`crate::field`]); must agree with
/// `crate::kernel::kernel_type` (a unit test checks it).
pub(crate) const fn kernel_spelling(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::U8 | FieldKind::Bool => "u8",
        FieldKind::U16 => "u16",
        FieldKind::U32 | FieldKind::F32 => "u32",
        FieldKind::U64 | FieldKind::F64 => "u64",
        FieldKind::I8 => "s8",
        FieldKind::I16 => "s16",
        FieldKind::I32 => "s32",
        FieldKind::I64 => "s64",
        FieldKind::Str => "__data_loc char[]",
        FieldKind::Bytes => "__data_loc u8[]",
    }
}

/// Length of the user_events description of an event: `name type field; type field...`.
pub(crate) const fn name_args_len(kernel_name: &str, fields: &[FieldDesc]) -> usize {
    let mut len = kernel_name.len();
    let mut i = 0;
    while i < fields.len() {
        let separator = if i == 0 { 1 } else { 2 };
        len += separator + kernel_spelling(fields[i].kind).len() + 1 + fields[i].name.len();
        i += 1;
    }
    len
}

/// Name of the ELF section where [`provider!`](crate::provider) places each event's
/// [description record](describe), so tools (`cotrace list --binary`) read a binary's events
/// without running it.
pub const DESCRIPTION_SECTION: &str = "cotrace_events";

/// First bytes of every description record.
pub const DESCRIPTION_MAGIC: [u8; 4] = *b"CTEV";
/// Version of the description record's layout.
pub const DESCRIPTION_VERSION: u8 = 1;

/// Code of a field kind in a description record (stable: part of the record's layout).
pub const fn kind_code(kind: FieldKind) -> u8 {
    match kind {
        FieldKind::U8 => 1,
        FieldKind::U16 => 2,
        FieldKind::U32 => 3,
        FieldKind::U64 => 4,
        FieldKind::I8 => 5,
        FieldKind::I16 => 6,
        FieldKind::I32 => 7,
        FieldKind::I64 => 8,
        FieldKind::Bool => 9,
        FieldKind::F32 => 10,
        FieldKind::F64 => 11,
        FieldKind::Str => 12,
        FieldKind::Bytes => 13,
    }
}

/// Length of an event's description record (see [`describe_record`]).
pub const fn description_len(desc: &EventDesc) -> usize {
    let mut len = 4 + 1 + 4; // magic, version, record length
    len += 2 + desc.provider.len() + 2 + desc.name.len() + 2 + desc.kernel_name.len();
    len += 2 + desc.module_path.len();
    len += 1 + 1 + 1; // level, flags, field count
    let mut i = 0;
    while i < desc.fields.len() {
        len += 1 + 2 + desc.fields[i].name.len();
        i += 1;
    }
    len + 2 + name_args_len(desc.kernel_name, desc.fields)
}

/// Appends bytes to a record being built at compile time.
struct Writer<const N: usize> {
    out: [u8; N],
    at: usize,
}

impl<const N: usize> Writer<N> {
    const fn bytes(mut self, bytes: &[u8]) -> Self {
        let mut i = 0;
        while i < bytes.len() {
            self.out[self.at] = bytes[i];
            self.at += 1;
            i += 1;
        }
        self
    }

    const fn byte(self, b: u8) -> Self {
        self.bytes(&[b])
    }

    /// A string: its length (u16, little-endian), then its bytes.
    const fn str(self, s: &str) -> Self {
        let len = s.len() as u16;
        self.bytes(&len.to_le_bytes()).bytes(s.as_bytes())
    }
}

/// An event's self-contained description record, built at compile time; all integers are
/// little-endian, strings are a u16 length then UTF-8 bytes:
///
/// ```text
/// "CTEV" version:u8 record_len:u32 (the whole record)
/// provider:str event:str kernel_name:str module_path:str
/// lttng_loglevel:u8 flags:u8 (bit 0 persist, bit 1 multi_format) field_count:u8
/// field_count x (kind:u8 (see kind_code) name:str)
/// user_events_description:str (`kernel_name type field; type field...`, as registered)
/// ```
///
/// Records of every event of a program lie back to back in the section
/// [`DESCRIPTION_SECTION`]; a reader skips zero bytes between records.
pub const fn describe_record<const N: usize>(desc: &EventDesc) -> [u8; N] {
    let mut w = Writer { out: [0; N], at: 0 };
    w = w
        .bytes(&DESCRIPTION_MAGIC)
        .byte(DESCRIPTION_VERSION)
        .bytes(&(N as u32).to_le_bytes());
    w = w
        .str(desc.provider)
        .str(desc.name)
        .str(desc.kernel_name)
        .str(desc.module_path);
    let flags = (desc.persist as u8) | ((desc.multi_format as u8) << 1);
    w = w
        .byte(desc.level.lttng_loglevel() as u8)
        .byte(flags)
        .byte(desc.fields.len() as u8);
    let mut i = 0;
    while i < desc.fields.len() {
        w = w
            .byte(kind_code(desc.fields[i].kind))
            .str(desc.fields[i].name);
        i += 1;
    }
    // The user_events description, spelled as `name_args_len` counts it.
    let len = name_args_len(desc.kernel_name, desc.fields) as u16;
    w = w
        .bytes(&len.to_le_bytes())
        .bytes(desc.kernel_name.as_bytes());
    let mut i = 0;
    while i < desc.fields.len() {
        w = w
            .bytes(if i == 0 { b" " } else { b"; " })
            .bytes(kernel_spelling(desc.fields[i].kind).as_bytes())
            .byte(b' ')
            .bytes(desc.fields[i].name.as_bytes());
        i += 1;
    }
    if w.at != N {
        panic!("cotrace: description record length mismatch");
    }
    w.out
}

/// A compile-time message: what is wrong with a declaration, or nothing.
pub struct Problem {
    buf: [u8; 1024],
    len: usize,
}

impl Problem {
    const fn none() -> Self {
        Self {
            buf: [0; 1024],
            len: 0,
        }
    }

    const fn push(mut self, s: &str) -> Self {
        let bytes = s.as_bytes();
        let mut i = 0;
        while i < bytes.len() && self.len < self.buf.len() {
            self.buf[self.len] = bytes[i];
            self.len += 1;
            i += 1;
        }
        self
    }

    const fn number(mut self, mut n: usize) -> Self {
        let mut digits = [0u8; 20];
        let mut count = 0;
        loop {
            digits[count] = b'0' + (n % 10) as u8;
            count += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        while count > 0 && self.len < self.buf.len() {
            count -= 1;
            self.buf[self.len] = digits[count];
            self.len += 1;
        }
        self
    }

    /// Starts a message about event `provider::event`.
    const fn about(provider: &str, event: &str) -> Self {
        Self::none()
            .push("cotrace: event `")
            .push(provider)
            .push("::")
            .push(event)
            .push("`: ")
    }

    /// Whether there is a problem.
    pub const fn is_problem(&self) -> bool {
        self.len > 0
    }

    /// The message.
    pub const fn message(&self) -> &str {
        // Only whole `str`s are pushed; a message cut at the buffer's end may split a
        // character, then the valid prefix is shown.
        let mut len = self.len;
        loop {
            match core::str::from_utf8(self.buf.split_at(len).0) {
                Ok(s) => return s,
                Err(_) => len -= 1,
            }
        }
    }
}

/// Whether `name` has a byte user_events or LTTng refuse in a name (anything but ASCII letters,
/// digits and `_`).
const fn has_foreign_byte(name: &str) -> bool {
    let bytes = name.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !(b.is_ascii_alphanumeric() || b == b'_') {
            return true;
        }
        i += 1;
    }
    false
}

/// Whether `name` is empty or starts with a digit (LTTng takes C identifiers only). Never true
/// of a Rust identifier: only names given at run time ([`crate::dynamic`]) can break it.
const fn bad_start(name: &str) -> bool {
    match name.as_bytes().first() {
        None => true,
        Some(b) => b.is_ascii_digit(),
    }
}

const fn starts_with(name: &str, prefix: &str) -> bool {
    let (n, p) = (name.as_bytes(), prefix.as_bytes());
    if n.len() < p.len() {
        return false;
    }
    let mut i = 0;
    while i < p.len() {
        if n[i] != p[i] {
            return false;
        }
        i += 1;
    }
    true
}

const fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && starts_with(a, b)
}

const fn is_ascii(name: &str) -> bool {
    let bytes = name.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii() {
            return false;
        }
        i += 1;
    }
    true
}

const ASCII_ONLY: &str = " is not ASCII: user_events and LTTng take names of ASCII letters, \
                          digits and `_` only";
const FOREIGN_CHARACTER: &str = " has a character other than ASCII letters, digits and `_`: \
                                 user_events and LTTng take no other";
/// What is wrong with a name that has a byte other than ASCII letters, digits and `_`.
const fn characters(name: &str) -> &'static str {
    if is_ascii(name) {
        FOREIGN_CHARACTER
    } else {
        ASCII_ONLY
    }
}
const BAD_START: &str = " is empty or starts with a digit: LTTng takes C identifiers only";

/// Which of both tracers' name rules an event breaks: the first found, in the order of the
/// [table](crate::provider#names). [`provider!`](crate::provider) reports it as a compile error;
/// [`dynamic`](crate::dynamic) events as [`DynamicError::Name`](crate::DynamicError::Name),
/// with the same message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NameRule {
    /// The provider name is empty or starts with a digit (run time only).
    ProviderStart,
    /// The provider name has a byte other than ASCII letters, digits and `_`.
    ProviderCharacters,
    /// The event name is empty or starts with a digit (run time only).
    EventStart,
    /// The event name has a byte other than ASCII letters, digits and `_`.
    EventCharacters,
    /// `provider:event` is longer than [`MAX_NAME_LEN`] bytes.
    NameTooLong {
        /// Its length.
        len: usize,
    },
    /// More than [`MAX_FIELDS`] fields.
    TooManyFields {
        /// How many.
        count: usize,
    },
    /// A field name is empty or starts with a digit (run time only).
    FieldStart {
        /// The field's position.
        index: usize,
    },
    /// A field name has a byte other than ASCII letters, digits and `_`.
    FieldCharacters {
        /// The field's position.
        index: usize,
    },
    /// A field name starts with `_` (LTTng).
    FieldUnderscore {
        /// The field's position.
        index: usize,
    },
    /// A field name starts with `common_` (ftrace).
    FieldCommonPrefix {
        /// The field's position.
        index: usize,
    },
    /// A field name is longer than [`MAX_FIELD_NAME_LEN`] bytes (LTTng).
    FieldTooLong {
        /// The field's position.
        index: usize,
        /// Its length.
        len: usize,
    },
    /// A field name is used twice.
    FieldTwice {
        /// The position of the second one.
        index: usize,
    },
    /// The user_events description is longer than [`MAX_NAME_ARGS`] bytes.
    DescriptionTooLong {
        /// Its length.
        len: usize,
    },
}

/// The first name rule of both tracers that an event breaks, or `None`. Checked at compile time
/// for [`provider!`](crate::provider), at run time for [`dynamic`](crate::dynamic) events.
pub const fn find_problem(
    provider: &str,
    event: &str,
    kernel_name: &str,
    fields: &[FieldDesc],
) -> Option<NameRule> {
    if bad_start(provider) {
        return Some(NameRule::ProviderStart);
    }
    if has_foreign_byte(provider) {
        return Some(NameRule::ProviderCharacters);
    }
    if bad_start(event) {
        return Some(NameRule::EventStart);
    }
    if has_foreign_byte(event) {
        return Some(NameRule::EventCharacters);
    }
    let full = provider.len() + 1 + event.len();
    if full > MAX_NAME_LEN {
        return Some(NameRule::NameTooLong { len: full });
    }
    if fields.len() > MAX_FIELDS {
        return Some(NameRule::TooManyFields {
            count: fields.len(),
        });
    }
    let mut i = 0;
    while i < fields.len() {
        let name = fields[i].name;
        if bad_start(name) {
            return Some(NameRule::FieldStart { index: i });
        }
        if has_foreign_byte(name) {
            return Some(NameRule::FieldCharacters { index: i });
        }
        if starts_with(name, "_") {
            return Some(NameRule::FieldUnderscore { index: i });
        }
        if starts_with(name, "common_") {
            return Some(NameRule::FieldCommonPrefix { index: i });
        }
        if name.len() > MAX_FIELD_NAME_LEN {
            return Some(NameRule::FieldTooLong {
                index: i,
                len: name.len(),
            });
        }
        let mut j = 0;
        while j < i {
            if same(fields[j].name, name) {
                return Some(NameRule::FieldTwice { index: i });
            }
            j += 1;
        }
        i += 1;
    }
    let name_args = name_args_len(kernel_name, fields);
    if name_args > MAX_NAME_ARGS {
        return Some(NameRule::DescriptionTooLong { len: name_args });
    }
    None
}

/// The message for a broken rule (`rule` found by [`find_problem`] on the same arguments).
pub const fn describe(
    rule: NameRule,
    provider: &str,
    event: &str,
    kernel_name: &str,
    fields: &[FieldDesc],
) -> Problem {
    let about = Problem::about(provider, event);
    match rule {
        NameRule::ProviderStart => about
            .push("the provider name `")
            .push(provider)
            .push("`")
            .push(BAD_START),
        NameRule::ProviderCharacters => about
            .push("the provider name `")
            .push(provider)
            .push("`")
            .push(characters(provider)),
        NameRule::EventStart => about
            .push("the event name `")
            .push(event)
            .push("`")
            .push(BAD_START),
        NameRule::EventCharacters => about
            .push("the event name `")
            .push(event)
            .push("`")
            .push(characters(event)),
        NameRule::NameTooLong { len } => about
            .push("`provider:event` (LTTng) and `provider_event` (user_events) are ")
            .number(len)
            .push(" bytes; both tracers take at most ")
            .number(MAX_NAME_LEN)
            .push(": shorten the provider or event name"),
        NameRule::TooManyFields { count } => about
            .push("it has ")
            .number(count)
            .push(" fields; cotrace takes at most ")
            .number(MAX_FIELDS)
            .push(" per event: split it in two"),
        NameRule::FieldStart { index }
        | NameRule::FieldCharacters { index }
        | NameRule::FieldUnderscore { index }
        | NameRule::FieldCommonPrefix { index }
        | NameRule::FieldTooLong { index, .. }
        | NameRule::FieldTwice { index } => {
            let name = if index < fields.len() {
                fields[index].name
            } else {
                ""
            };
            let field = about.push("field `").push(name);
            match rule {
                NameRule::FieldStart { .. } => field.push("`").push(BAD_START),
                NameRule::FieldCharacters { .. } => field.push("`").push(characters(name)),
                NameRule::FieldUnderscore { .. } => field.push(
                    "` starts with `_`: LTTng refuses such field names (it names the hidden \
                     length of a `&[u8]` field `_<name>_length`)",
                ),
                NameRule::FieldCommonPrefix { .. } => field.push(
                    "` starts with `common_`: ftrace reserves that prefix for the fields it adds \
                     to every event",
                ),
                NameRule::FieldTooLong { len, .. } => field
                    .push("` is ")
                    .number(len)
                    .push(" bytes; LTTng takes at most ")
                    .number(MAX_FIELD_NAME_LEN),
                _ => field.push("` is declared twice"),
            }
        }
        NameRule::DescriptionTooLong { len } => about
            .push("its user_events description (`")
            .push(kernel_name)
            .push(" type field; ...`) is ")
            .number(len)
            .push(" bytes; the kernel takes at most ")
            .number(MAX_NAME_ARGS)
            .push(": shorten the field names or split the event"),
    }
}

/// Checks what both tracers require of an event's names, at compile time. The first problem
/// found is returned as a readable message; [`provider!`](crate::provider) turns it into a
/// compile error.
pub const fn check_event(
    provider: &str,
    event: &str,
    kernel_name: &str,
    fields: &[FieldDesc],
) -> Problem {
    match find_problem(provider, event, kernel_name, fields) {
        None => Problem::none(),
        Some(rule) => describe(rule, provider, event, kernel_name, fields),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn field(name: &'static str, kind: FieldKind) -> FieldDesc {
        FieldDesc { name, kind }
    }

    /// [`describe_record`] at run time (its length is a const generic).
    fn describe_vec(desc: &EventDesc) -> Vec<u8> {
        macro_rules! try_len {
            ($($n:literal)*) => {{
                let len = description_len(desc);
                $(if len == $n { return describe_record::<$n>(desc).to_vec(); })*
                std::panic!("add {len} to the lengths");
            }};
        }
        try_len!(100 228)
    }

    #[test]
    fn description_record_layout() {
        static FIELDS: [FieldDesc; 2] =
            [field("id", FieldKind::U64), field("path", FieldKind::Str)];
        let desc = EventDesc {
            provider: "shop",
            name: "sold",
            kernel_name: "shop_sold",
            module_path: "app::shop",
            level: crate::Level::Notice,
            persist: false,
            multi_format: true,
            fields: &FIELDS,
        };
        let r = describe_vec(&desc);
        assert_eq!(&r[..5], b"CTEV\x01");
        assert_eq!(
            u32::from_le_bytes(r[5..9].try_into().unwrap()) as usize,
            r.len()
        );
        assert_eq!(&r[9..15], b"\x04\x00shop");
        let text = String::from_utf8_lossy(&r);
        assert!(
            text.ends_with("shop_sold u64 id; __data_loc char[] path"),
            "{text}"
        );
        // level 5 (notice), flags 2 (multi_format), 2 fields, then u64 `id`.
        let at = r.windows(3).position(|w| w == [5, 2, 2]).unwrap();
        assert_eq!(&r[at + 3..at + 7], b"\x04\x02\x00i");
    }

    #[test]
    fn unraw_strips_only_the_raw_prefix() {
        assert_eq!(unraw("r#type"), "type");
        assert_eq!(unraw("type"), "type");
        assert_eq!(unraw("r"), "r");
        assert_eq!(unraw("r_x"), "r_x");
        const JOINED: [u8; 5] = join::<5>("a_b", b'_', "c");
        assert_eq!(as_str(&JOINED), "a_b_c");
    }

    #[test]
    fn messages_name_the_problem() {
        let ok = check_event("p", "e", "p_e", &[field("a", FieldKind::U8)]);
        assert!(!ok.is_problem());
        let cases: [(&[FieldDesc], &str); 4] = [
            (
                &[field("größe", FieldKind::U8)],
                "field `größe` is not ASCII",
            ),
            (&[field("_x", FieldKind::U8)], "field `_x` starts with `_`"),
            (&[field("common_x", FieldKind::U8)], "`common_`"),
            (
                &[field("a", FieldKind::U8), field("a", FieldKind::U16)],
                "field `a` is declared twice",
            ),
        ];
        for (fields, expected) in cases {
            let p = check_event("p", "e", "p_e", fields);
            assert!(p.message().starts_with("cotrace: event `p::e`: "));
            assert!(p.message().contains(expected), "{}", p.message());
        }
        let long = "x".repeat(300).leak();
        assert!(
            check_event("p", long, "p_x", &[])
                .message()
                .contains("302 bytes")
        );
        assert_eq!(
            Problem::none().number(0).push("|").number(1234).message(),
            "0|1234"
        );
    }

    /// The compile-time length of the kernel's description must be the real one.
    #[cfg(feature = "kernel")]
    #[test]
    fn name_args_length_matches_the_kernel_format() {
        use FieldKind::*;
        let kinds = [
            U8, U16, U32, U64, I8, I16, I32, I64, Bool, F32, F64, Str, Bytes,
        ];
        let fields: Vec<FieldDesc> = kinds
            .iter()
            .enumerate()
            .map(|(i, &kind)| field(format!("f{i}").leak(), kind))
            .collect();
        let mut format = cotrace_kernel::EventFormat::new("p_e").unwrap();
        for f in &fields {
            assert_eq!(
                kernel_spelling(f.kind),
                crate::kernel::kernel_type(f.kind).kernel_type()
            );
            format = format
                .field(f.name, crate::kernel::kernel_type(f.kind))
                .unwrap();
        }
        assert_eq!(name_args_len("p_e", &fields), format.as_str().len());
        // The description record carries the same user_events description, byte for byte.
        let desc = EventDesc {
            provider: "p",
            name: "e",
            kernel_name: "p_e",
            module_path: "m",
            level: crate::Level::Warn,
            persist: true,
            multi_format: false,
            fields: fields.clone().leak(),
        };
        let record = describe_vec(&desc);
        assert!(record.ends_with(format.as_str().as_bytes()));
    }
}
