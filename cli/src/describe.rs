//! The events a binary declares, read from its `cotrace_events` ELF section without running it.
//!
//! `cotrace::provider!` places one description record per event in that section; the layout is
//! documented at `cotrace::__macro_support::describe_record` (version 1):
//!
//! ```text
//! "CTEV" version:u8 record_len:u32
//! provider:str event:str kernel_name:str module_path:str
//! lttng_loglevel:u8 flags:u8 field_count:u8 field_count x (kind:u8 name:str)
//! user_events_description:str
//! ```
//!
//! Integers are little-endian; a `str` is a u16 length and UTF-8 bytes.

use std::path::Path;

use object::{Object, ObjectSection};

/// The section's name (`cotrace::__macro_support::DESCRIPTION_SECTION`).
pub const SECTION: &str = "cotrace_events";
const MAGIC: &[u8; 4] = b"CTEV";
const VERSION: u8 = 1;

/// One event declared in a binary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Declared {
    /// The provider (`mod` name).
    pub provider: String,
    /// The event (`fn` name).
    pub name: String,
    /// The user_events name (`provider_event`).
    pub kernel_name: String,
    /// The Rust module it was declared in.
    pub module_path: String,
    /// LTTng loglevel (0 emergency .. 14 debug).
    pub loglevel: u8,
    /// `#[persist]`.
    pub persist: bool,
    /// `#[multi_format]`.
    pub multi_format: bool,
    /// `(type, name)` per field, types spelled as in Rust.
    pub fields: Vec<(String, String)>,
    /// The user_events description the app registers: `kernel_name type field; ...`.
    pub user_events: String,
}

impl Declared {
    /// `provider:event`, LTTng's name.
    pub fn lttng_name(&self) -> String {
        format!("{}:{}", self.provider, self.name)
    }

    /// The level's name as written in `#[level(..)]`.
    pub fn level(&self) -> &'static str {
        level_name(self.loglevel)
    }
}

/// The `#[level(..)]` name of an LTTng loglevel.
pub fn level_name(loglevel: u8) -> &'static str {
    match loglevel {
        0 => "emergency",
        1 => "alert",
        2 => "critical",
        3 => "error",
        4 => "warn",
        5 => "notice",
        6 => "info",
        14 => "debug",
        _ => "?",
    }
}

fn kind_name(code: u8) -> Option<&'static str> {
    Some(match code {
        1 => "u8",
        2 => "u16",
        3 => "u32",
        4 => "u64",
        5 => "i8",
        6 => "i16",
        7 => "i32",
        8 => "i64",
        9 => "bool",
        10 => "f32",
        11 => "f64",
        12 => "&str",
        13 => "&[u8]",
        _ => return None,
    })
}

/// What a binary declares.
#[derive(Debug)]
pub enum Binary {
    /// An ELF file with a `cotrace_events` section: its events (maybe none).
    Events(Vec<Declared>),
    /// An ELF file without that section: not built with cotrace's `provider!`.
    NoSection,
    /// Not an ELF file (a script, say).
    NotElf,
}

/// Reads the events `path` declares.
pub fn read_binary(path: &Path) -> Result<Binary, String> {
    let data = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if !data.starts_with(b"\x7fELF") {
        return Ok(Binary::NotElf);
    }
    let file = object::File::parse(&*data)
        .map_err(|e| format!("{}: not a readable ELF file: {e}", path.display()))?;
    let Some(section) = file.section_by_name(SECTION) else {
        return Ok(Binary::NoSection);
    };
    let bytes = section
        .data()
        .map_err(|e| format!("{}: cannot read section {SECTION}: {e}", path.display()))?;
    parse_section(bytes)
        .map(Binary::Events)
        .map_err(|e| format!("{}: section {SECTION}: {e}", path.display()))
}

/// Parses the records of a `cotrace_events` section (zero bytes between records are skipped;
/// identical records, from one crate linked twice, are kept once).
pub fn parse_section(bytes: &[u8]) -> Result<Vec<Declared>, String> {
    let mut events: Vec<Declared> = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == 0 {
            at += 1;
            continue;
        }
        let mut r = Reader { bytes, at };
        let event = r
            .record()
            .map_err(|e| format!("record at offset {at}: {e}"))?;
        at = r.at;
        if !events.contains(&event) {
            events.push(event);
        }
    }
    Ok(events)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or("truncated")?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn str(&mut self) -> Result<String, String> {
        let len = u16::from_le_bytes(self.take(2)?.try_into().unwrap_or_default());
        let bytes = self.take(usize::from(len))?;
        String::from_utf8(bytes.to_vec()).map_err(|_| "a name is not UTF-8".to_string())
    }

    fn record(&mut self) -> Result<Declared, String> {
        let start = self.at;
        if self.take(4)? != MAGIC {
            return Err("no CTEV magic".into());
        }
        let version = self.u8()?;
        if version != VERSION {
            return Err(format!(
                "layout version {version}; this cotrace reads version {VERSION}"
            ));
        }
        let len = u32::from_le_bytes(self.take(4)?.try_into().unwrap_or_default()) as usize;
        let mut event = Declared {
            provider: self.str()?,
            name: self.str()?,
            kernel_name: self.str()?,
            module_path: self.str()?,
            loglevel: self.u8()?,
            persist: false,
            multi_format: false,
            fields: Vec::new(),
            user_events: String::new(),
        };
        let flags = self.u8()?;
        event.persist = flags & 1 != 0;
        event.multi_format = flags & 2 != 0;
        let count = self.u8()?;
        for _ in 0..count {
            let code = self.u8()?;
            let kind = kind_name(code).ok_or(format!("unknown field type code {code}"))?;
            event.fields.push((kind.to_string(), self.str()?));
        }
        event.user_events = self.str()?;
        if self.at - start != len {
            return Err(format!(
                "record length {len}, but its contents take {}",
                self.at - start
            ));
        }
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(provider: &str, event: &str) -> Vec<u8> {
        let mut body = Vec::new();
        let s = |body: &mut Vec<u8>, s: &str| {
            body.extend((s.len() as u16).to_le_bytes());
            body.extend(s.as_bytes());
        };
        let kernel = format!("{provider}_{event}");
        s(&mut body, provider);
        s(&mut body, event);
        s(&mut body, &kernel);
        s(&mut body, "m");
        body.extend([4, 1, 1, 12]);
        s(&mut body, "path");
        s(&mut body, &format!("{kernel} __data_loc char[] path"));
        let mut out = b"CTEV\x01".to_vec();
        out.extend(((body.len() + 9) as u32).to_le_bytes());
        out.extend(body);
        out
    }

    #[test]
    fn parses_records_with_padding_and_refuses_garbage() {
        let mut section = record("shop", "sold");
        section.extend([0, 0, 0]);
        section.extend(record("shop", "lost"));
        let events = parse_section(&section).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].lttng_name(), "shop:sold");
        assert_eq!(events[0].level(), "warn");
        assert!(events[0].persist && !events[0].multi_format);
        assert_eq!(events[1].fields, vec![("&str".into(), "path".into())]);
        assert_eq!(events[1].user_events, "shop_lost __data_loc char[] path");
        assert!(parse_section(b"XXXX").unwrap_err().contains("magic"));
        let cut = &section[..section.len() - 1];
        assert!(parse_section(cut).unwrap_err().contains("truncated"));
    }
}
