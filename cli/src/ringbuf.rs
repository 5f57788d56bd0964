//! ftrace's binary per-CPU ring buffers (`per_cpu/cpuN/trace_pipe_raw`), decoded with the
//! instance's `events/header_page` and each event's `format` file.
//!
//! The text output (`trace_pipe`) prints the timestamp of an ns clock in microseconds
//! (`trace_output.c`: `ns2usecs`); the raw pages carry the full value, so the kernel half of the
//! timeline has the nanoseconds LTTng's has and the order between the two tracers is real.
//!
//! A page (`ring_buffer.c`): a u64 timestamp, a `local_t` commit (bytes of data; bit 31: events
//! were lost before this page, bit 30: their count is stored after the data), then events, each
//! a u32 header (`type_len` in the low 5 bits, `time_delta` in the upper 27) and its data:
//! `type_len` 1..=28 is the data length in 4-byte words, 0 means the length is in the next u32;
//! 29 is padding, 30 extends the time delta, 31 is an absolute timestamp.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::fields::Fields;

/// `RB_MISSED_EVENTS`: events were lost before this page.
const MISSED_EVENTS: u64 = 1 << 31;
/// `RB_MISSED_STORED`: their count follows the data.
const MISSED_STORED: u64 = 1 << 30;
/// `TS_SHIFT`: bits of the delta in an event header.
const TS_SHIFT: u32 = 27;
/// `TS_MSB`: the bits an absolute timestamp event leaves out.
const TS_MSB: u64 = 0xf8 << 56;

/// Where a page's fields are (`events/header_page`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageLayout {
    commit_offset: usize,
    commit_size: usize,
    data_offset: usize,
    /// Bytes of one page as `trace_pipe_raw` returns it (header and data).
    pub page_size: usize,
}

/// Reads `events/header_page` in one `read`: the kernel regenerates its text on every read
/// and an instance's answers a second read with end-of-file, so `read_to_string`'s short
/// first read (32 bytes) would cut it.
pub fn read_header_page(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut buf = vec![0u8; 64 * 1024];
    let n = fs::File::open(path)?.read(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// Parses `events/header_page`: `field: u64 timestamp; offset:0; size:8; signed:0;` lines.
pub fn parse_header_page(text: &str) -> Option<PageLayout> {
    let (mut commit, mut data) = (None, None);
    for line in text.lines() {
        let Some((decl, offset, size, _)) = field_line(line) else {
            continue;
        };
        match decl.rsplit(' ').next() {
            Some("commit") => commit = Some((offset, size)),
            Some("data") => data = Some((offset, size)),
            _ => {}
        }
    }
    let ((commit_offset, commit_size), (data_offset, data_size)) = (commit?, data?);
    (commit_size == 4 || commit_size == 8).then_some(PageLayout {
        commit_offset,
        commit_size,
        data_offset,
        page_size: data_offset + data_size,
    })
}

/// `field:TYPE NAME;\toffset:N;\tsize:N;\tsigned:N;` as (`TYPE NAME`, offset, size, signed).
fn field_line(line: &str) -> Option<(&str, usize, usize, bool)> {
    let mut parts = line.trim().split(';').map(str::trim);
    let decl = parts.next()?.strip_prefix("field:")?.trim();
    let mut offset = None;
    let mut size = None;
    let mut signed = false;
    for p in parts {
        if let Some(v) = p.strip_prefix("offset:") {
            offset = v.parse().ok();
        } else if let Some(v) = p.strip_prefix("size:") {
            size = v.parse().ok();
        } else if let Some(v) = p.strip_prefix("signed:") {
            signed = v == "1";
        }
    }
    Some((decl, offset?, size?, signed))
}

/// What one field of a record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// An integer of 1, 2, 4 or 8 bytes.
    Int { signed: bool },
    /// `char name[N]`: a NUL-terminated string in place.
    Chars,
    /// `__data_loc`/`__rel_loc` (`rel`): a u32 `len << 16 | offset` to a string or bytes.
    Dynamic { rel: bool, string: bool },
    /// Anything else (a struct): its bytes in hex.
    Bytes,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Field {
    name: String,
    offset: usize,
    size: usize,
    kind: Kind,
}

/// One event's `format` file: its name and fields (the common ones apart from the pid left
/// out).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Format {
    /// The event's name (`shop_request_start`).
    pub name: String,
    id: u16,
    pid_offset: usize,
    fields: Vec<Field>,
}

/// Parses a `format` file.
pub fn parse_format(text: &str) -> Option<Format> {
    let mut name = None;
    let mut id = None;
    let mut pid_offset = None;
    let mut fields = Vec::new();
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("name:") {
            name = Some(n.trim().to_string());
        } else if let Some(n) = line.strip_prefix("ID:") {
            id = n.trim().parse().ok();
        } else if let Some((decl, offset, size, signed)) = field_line(line) {
            // `TYPE NAME` or `TYPE NAME[N]`.
            let (ty, field) = decl.rsplit_once(' ')?;
            let (field, array) = match field.split_once('[') {
                Some((f, _)) => (f, true),
                None => (field, ty.ends_with(']')),
            };
            if field == "common_pid" {
                pid_offset = Some(offset);
                continue;
            }
            if field.starts_with("common_") {
                continue;
            }
            let kind = if ty.starts_with("__data_loc") || ty.starts_with("__rel_loc") {
                Kind::Dynamic {
                    rel: ty.starts_with("__rel_loc"),
                    string: ty.contains("char"),
                }
            } else if array && ty.contains("char") {
                Kind::Chars
            } else if !array && matches!(size, 1 | 2 | 4 | 8) {
                Kind::Int { signed }
            } else {
                Kind::Bytes
            };
            fields.push(Field {
                name: field.to_string(),
                offset,
                size,
                kind,
            });
        }
    }
    Some(Format {
        name: name?,
        id: id?,
        pid_offset: pid_offset?,
        fields,
    })
}

fn int(data: &[u8], offset: usize, size: usize) -> Option<u64> {
    let b = data.get(offset..offset + size)?;
    Some(match size {
        1 => u64::from(b[0]),
        2 => u64::from(u16::from_ne_bytes(b.try_into().ok()?)),
        4 => u64::from(u32::from_ne_bytes(b.try_into().ok()?)),
        8 => u64::from_ne_bytes(b.try_into().ok()?),
        _ => return None,
    })
}

fn sign_extend(v: u64, size: usize) -> i64 {
    let shift = 64 - 8 * size as u32;
    ((v << shift) as i64) >> shift
}

/// A NUL-terminated string in `bytes` (all of it without a NUL), invalid UTF-8 replaced.
fn c_string(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    let end = memchr::memchr(0, bytes).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end])
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(",")
}

impl Format {
    /// The thread that wrote `data` (a record of this event), without decoding its fields.
    pub fn tid(&self, data: &[u8]) -> u32 {
        int(data, self.pid_offset, 4).unwrap_or(0) as u32
    }

    /// The thread that wrote `data` (a record of this event); its fields go to `out` as text:
    /// integers in decimal (signed as the format says), strings as they are, other bytes in
    /// hex.
    pub fn decode(&self, data: &[u8], out: &mut Fields) -> u32 {
        const OVERFLOW: &[u8] = b"<OVERFLOW>";
        let tid = int(data, self.pid_offset, 4).unwrap_or(0) as u32;
        for f in &self.fields {
            let name = f.name.as_bytes();
            match f.kind {
                Kind::Int { signed } => match int(data, f.offset, f.size) {
                    Some(v) if signed => out.push_i64(name, sign_extend(v, f.size)),
                    Some(v) => out.push_u64(name, v),
                    None => out.push(name, OVERFLOW),
                },
                Kind::Chars => match data.get(f.offset..f.offset + f.size) {
                    Some(b) => out.push(name, c_string(b).as_bytes()),
                    None => out.push(name, OVERFLOW),
                },
                Kind::Dynamic { rel, string } => {
                    let loc = int(data, f.offset, 4).unwrap_or(0);
                    let (mut offset, len) = ((loc & 0xffff) as usize, (loc >> 16) as usize);
                    if rel {
                        offset += f.offset + 4;
                    }
                    match data.get(offset..offset + len) {
                        Some(b) if string => out.push(name, c_string(b).as_bytes()),
                        Some(b) => out.push(name, hex(b).as_bytes()),
                        None => out.push(name, OVERFLOW),
                    }
                }
                Kind::Bytes => match data.get(f.offset..f.offset + f.size) {
                    Some(b) => out.push(name, hex(b).as_bytes()),
                    None => out.push(name, OVERFLOW),
                },
            }
        }
        tid
    }
}

/// The formats of the events an instance records, by id; learnt when an event is enabled (so
/// that a record stays readable after its event vanished with its process) and on a miss.
pub struct Formats {
    instance: PathBuf,
    by_id: HashMap<u16, Format>,
}

impl Formats {
    /// No format known yet.
    pub fn new(instance: &Path) -> Self {
        Self {
            instance: instance.to_path_buf(),
            by_id: HashMap::new(),
        }
    }

    /// Reads `events/<system>/<event>/format`.
    pub fn learn(&mut self, system: &str, event: &str) {
        let path = self
            .instance
            .join("events")
            .join(system)
            .join(event)
            .join("format");
        if let Some(f) = fs::read_to_string(path)
            .ok()
            .as_deref()
            .and_then(parse_format)
        {
            self.by_id.insert(f.id, f);
        }
    }

    /// Learns every event of the systems cotrace records.
    fn rescan(&mut self) {
        for system in ["user_events", "user_events_multi"] {
            let dir = self.instance.join("events").join(system);
            for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
                if entry.path().is_dir() {
                    self.learn(system, &entry.file_name().to_string_lossy());
                }
            }
        }
        self.learn("sched", "sched_process_fork");
    }

    /// The formats known now, by id (for decoding after the events may have vanished).
    pub fn known(&self) -> HashMap<u16, Format> {
        self.by_id.clone()
    }

    /// The format of event `id` (rescanning once when unknown).
    pub fn get(&mut self, id: u16) -> Option<&Format> {
        if !self.by_id.contains_key(&id) {
            self.rescan();
        }
        self.by_id.get(&id)
    }
}

/// What a page holds, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Item<'a> {
    /// Records were lost before this page (`Some(count)` when the kernel stored it); the
    /// page's timestamp.
    Lost(u64, Option<u64>),
    /// One record: its timestamp (the instance's clock, ns) and its data (common fields first).
    Record(u64, &'a [u8]),
}

/// The items of one page read from `trace_pipe_raw`.
pub fn parse_page<'a>(layout: &PageLayout, page: &'a [u8], out: &mut impl FnMut(Item<'a>)) {
    let u32_at = |pos: usize| -> Option<u64> {
        Some(u64::from(u32::from_ne_bytes(
            page.get(pos..pos + 4)?.try_into().ok()?,
        )))
    };
    let Some(mut ts) = int(page, 0, 8) else {
        return;
    };
    let Some(commit) = int(page, layout.commit_offset, layout.commit_size) else {
        return;
    };
    let size = (commit & !(MISSED_EVENTS | MISSED_STORED)) as usize;
    let end = (layout.data_offset + size).min(page.len());
    if commit & MISSED_EVENTS != 0 {
        let count = (commit & MISSED_STORED != 0)
            .then(|| int(page, end, layout.commit_size))
            .flatten();
        out(Item::Lost(ts, count));
    }
    let mut pos = layout.data_offset;
    while pos + 4 <= end {
        let Some(header) = u32_at(pos) else { break };
        let (type_len, delta) = (header & 0x1f, header >> 5);
        match type_len {
            29 => {
                // Padding: the rest of the page when its delta is 0, else a discarded event.
                let Some(len) = u32_at(pos + 4).filter(|_| delta != 0) else {
                    break;
                };
                pos += 4 + len as usize;
            }
            30 => {
                let Some(ext) = u32_at(pos + 4) else { break };
                ts += (ext << TS_SHIFT) | delta;
                pos += 8;
            }
            31 => {
                let Some(high) = u32_at(pos + 4) else { break };
                let mut abs = (high << TS_SHIFT) | delta;
                // rb_fix_abs_ts: the 5 bits the event leaves out come from the last stamp.
                if ts & TS_MSB != 0 {
                    abs |= ts & TS_MSB;
                    if abs < ts {
                        abs += 1 << 59;
                    }
                }
                ts = abs;
                pos += 8;
            }
            0 => {
                let Some(len) = u32_at(pos + 4) else { break };
                let len = len as usize;
                ts += delta;
                if len < 4 {
                    break;
                }
                if let Some(data) = page.get(pos + 8..pos + 4 + len) {
                    out(Item::Record(ts, data));
                }
                pos += 4 + len;
            }
            n => {
                ts += delta;
                let len = n as usize * 4;
                if let Some(data) = page.get(pos + 4..pos + 4 + len) {
                    out(Item::Record(ts, data));
                }
                pos += 4 + len;
            }
        }
    }
}

/// The id (`common_type`) of a record's data.
pub fn record_id(data: &[u8]) -> Option<u16> {
    Some(int(data, 0, 2)? as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER_PAGE: &str = "\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n\
        \tfield: local_t commit;\toffset:8;\tsize:8;\tsigned:1;\n\
        \tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;\n\
        \tfield: char data;\toffset:16;\tsize:4080;\tsigned:1;\n";

    const FORMAT: &str = "name: shop_request_start\nID: 1234\nformat:\n\
        \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
        \tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n\
        \tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n\
        \tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\
        \n\
        \tfield:u32 worker;\toffset:8;\tsize:4;\tsigned:0;\n\
        \tfield:s8 delta;\toffset:12;\tsize:1;\tsigned:1;\n\
        \tfield:char tag[4];\toffset:13;\tsize:4;\tsigned:1;\n\
        \tfield:__rel_loc char[] path;\toffset:17;\tsize:4;\tsigned:1;\n\
        \n\
        print fmt: \"worker=%u\", REC->worker\n";

    fn record() -> Vec<u8> {
        let mut r = Vec::new();
        r.extend(1234u16.to_ne_bytes());
        r.extend([0, 0]);
        r.extend(77i32.to_ne_bytes());
        r.extend(4_000_000_000u32.to_ne_bytes());
        r.push(0x80); // -128
        r.extend(b"ab\0\0");
        // __rel_loc: 3 bytes, right after the field.
        r.extend(((3u32) << 16).to_ne_bytes());
        r.extend(b"/a\0");
        r
    }

    #[test]
    fn formats_and_fields() {
        let layout = parse_header_page(HEADER_PAGE).unwrap();
        assert_eq!(
            layout,
            PageLayout {
                commit_offset: 8,
                commit_size: 8,
                data_offset: 16,
                page_size: 4096
            }
        );
        let f = parse_format(FORMAT).unwrap();
        assert_eq!(
            (f.name.as_str(), f.id, f.pid_offset),
            ("shop_request_start", 1234, 4)
        );
        let mut fields = Fields::new();
        assert_eq!(f.decode(&record(), &mut fields), 77);
        let pairs = fields.pairs();
        let v: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            v,
            [
                ("worker", "4000000000"),
                ("delta", "-128"),
                ("tag", "ab"),
                ("path", "/a")
            ]
        );
    }

    #[test]
    fn data_loc_offsets_count_from_the_record_start() {
        // What cotrace writes since it switched to `__data_loc` (the `format` file as 6.12
        // prints it): the offset includes the 8-byte common header.
        let text = FORMAT.replace(
            "field:__rel_loc char[] path;",
            "field:__data_loc char[] path;",
        );
        let f = parse_format(&text).unwrap();
        let mut r = record();
        r.truncate(17);
        r.extend(((3u32 << 16) | 21).to_ne_bytes());
        r.extend(b"/b\0");
        let mut fields = Fields::new();
        f.decode(&r, &mut fields);
        assert_eq!(
            fields.pairs().last().unwrap(),
            &("path".to_owned(), "/b".to_owned())
        );
    }

    #[test]
    fn pages_keep_nanoseconds_and_losses() {
        let layout = parse_header_page(HEADER_PAGE).unwrap();
        let rec = record();
        let mut data = Vec::new();
        // A small event 123 ns after the page's stamp: type_len = words of data.
        let mut small = rec.clone();
        small.resize(rec.len().div_ceil(4) * 4, 0);
        data.extend(((123u32 << 5) | (small.len() as u32 / 4)).to_ne_bytes());
        data.extend(&small);
        // A time extension of 2^27 + 5 ns, then a long-form event (type_len 0) at +1 ns.
        data.extend(((5u32 << 5) | 30).to_ne_bytes());
        data.extend(1u32.to_ne_bytes());
        data.extend((1u32 << 5).to_ne_bytes()); // type_len 0
        data.extend((small.len() as u32 + 4).to_ne_bytes());
        data.extend(&small);
        let mut page = Vec::new();
        page.extend(1_000_000_000u64.to_ne_bytes());
        page.extend((data.len() as u64 | MISSED_EVENTS | MISSED_STORED).to_ne_bytes());
        page.extend(&data);
        page.extend(7u64.to_ne_bytes());
        page.resize(4096, 0);
        let mut items = Vec::new();
        parse_page(&layout, &page, &mut |i| items.push(i));
        assert_eq!(items.len(), 3, "{items:?}");
        assert_eq!(items[0], Item::Lost(1_000_000_000, Some(7)));
        assert_eq!(items[1], Item::Record(1_000_000_123, &small[..]));
        assert_eq!(
            items[2],
            Item::Record(1_000_000_123 + (1 << 27) + 5 + 1, &small[..])
        );
        assert_eq!(record_id(&small), Some(1234));
    }
}
