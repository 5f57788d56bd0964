//! The merged timeline of both tracers: text and Chrome's Trace Event Format.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use std::io::Write;
use std::sync::Mutex;

pub use crate::fields::Fields;

use serde_json::{Value, json};

/// Which tracer recorded an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tracer {
    /// ftrace (user_events, a private instance).
    Kernel,
    /// LTTng-UST.
    Lttng,
}

impl Tracer {
    /// The tag in the text timeline.
    pub fn tag(self) -> &'static str {
        match self {
            Self::Kernel => "kernel",
            Self::Lttng => "lttng",
        }
    }

    /// The (synthetic) process id of this tracer's tracks in the Chrome trace.
    fn track_pid(self) -> u32 {
        match self {
            Self::Kernel => 1,
            Self::Lttng => 2,
        }
    }
}

/// One event of either tracer, on the shared monotonic time axis.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// CLOCK_MONOTONIC, ns (both tracers: the kernel's from the raw ring buffer).
    pub ts_ns: u64,
    /// Who recorded it.
    pub tracer: Tracer,
    /// The process, when known.
    pub pid: Option<u32>,
    /// The thread, when known.
    pub tid: Option<u32>,
    /// `provider:event` ([`Names`]: one copy per name for the whole run).
    pub event: &'static str,
    /// `name=value` pairs.
    pub fields: Fields,
}

/// Event names as `&'static str`, so that an entry carries its name without an allocation or
/// a reference count: each distinct name is leaked once for the process (a recording has a
/// few, bounded by the events it records). Each source keeps its own cache in front of the
/// shared table (the same name as the last record's costs a comparison).
#[derive(Default)]
pub struct Names {
    last: Option<(Vec<u8>, &'static str)>,
    seen: HashMap<Vec<u8>, &'static str>,
}

/// Every name [`Names`] leaked, by its text.
static INTERNED: Mutex<BTreeMap<String, &'static str>> = Mutex::new(BTreeMap::new());

/// The one `&'static str` for `name`.
pub fn intern(name: &str) -> &'static str {
    let mut all = INTERNED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(&s) = all.get(name) {
        return s;
    }
    let s: &'static str = Box::leak(name.to_string().into_boxed_str());
    all.insert(name.to_string(), s);
    s
}

impl Names {
    /// The name for the raw name `raw` (as the tracer wrote it), made once per distinct raw
    /// name by `make` (given `raw` as text, invalid UTF-8 replaced).
    pub fn get(&mut self, raw: &[u8], make: impl FnOnce(&str) -> String) -> &'static str {
        if let Some((last, name)) = &self.last {
            if last == raw {
                return name;
            }
        }
        let name = match self.seen.get(raw) {
            Some(&name) => name,
            None => {
                let name = intern(&make(&String::from_utf8_lossy(raw)));
                self.seen.insert(raw.to_vec(), name);
                name
            }
        };
        match &mut self.last {
            Some((last, n)) => {
                last.clear();
                last.extend_from_slice(raw);
                *n = name;
            }
            None => self.last = Some((raw.to_vec(), name)),
        }
        name
    }
}

/// The order of the timeline: by time (ties: kernel first, then by thread).
fn key(e: &Entry) -> (u64, Tracer, Option<u32>) {
    (e.ts_ns, e.tracer, e.tid)
}

/// Runs a source on a thread of its own: `next` is called there until it returns `None`, and
/// its items come back, in order, through the returned iterator; the state comes back through
/// the handle. Items travel in batches over a bounded channel (at most [`AHEAD`] batches of
/// [`BATCH`] in flight), so memory stays flat; what the thread does (babeltrace2's lines
/// parsed, a CPU's kernel pages decoded) overlaps the merge instead of adding to it.
pub fn read_ahead<S, T>(
    mut state: S,
    mut next: impl FnMut(&mut S) -> Option<T> + Send + 'static,
) -> (impl Iterator<Item = T>, std::thread::JoinHandle<S>)
where
    S: Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<T>>(AHEAD);
    let thread = std::thread::spawn(move || {
        loop {
            let batch: Vec<T> = std::iter::from_fn(|| next(&mut state))
                .take(BATCH)
                .collect();
            let last = batch.len() < BATCH;
            // A send fails when the merge stopped early (an error): stop reading too.
            if batch.is_empty() || tx.send(batch).is_err() || last {
                return state;
            }
        }
    });
    (rx.into_iter().flatten(), thread)
}

/// Items per batch of [`read_ahead`].
pub const BATCH: usize = 256;
/// Batches in flight per source in [`read_ahead`].
pub const AHEAD: usize = 2;

/// Merges time-ordered sources into `sink` in [`key`] order, holding one entry per source
/// (memory does not grow with the recording). A source that is not quite in order (a CPU's
/// buffer read while written) only delays its own entries.
pub fn merge<'a>(
    mut sources: Vec<Box<dyn Iterator<Item = Entry> + 'a>>,
    mut sink: impl FnMut(Entry) -> Result<(), String>,
) -> Result<(), String> {
    let mut heads: Vec<Option<Entry>> = sources.iter_mut().map(Iterator::next).collect();
    loop {
        let next = heads
            .iter()
            .enumerate()
            .filter_map(|(i, h)| Some((key(h.as_ref()?), i)))
            .min();
        let Some((_, i)) = next else {
            return Ok(());
        };
        let entry = heads[i].take().expect("the head just found");
        heads[i] = sources[i].next();
        sink(entry)?;
    }
}

/// The timeline file, written as the merge goes: text or Chrome's Trace Event Format.
pub enum Writer<W: Write> {
    /// One line per entry: `seconds.nanoseconds tracer pid/tid provider:event name=value ...`.
    Text(W),
    /// The Trace Event Format (Perfetto UI, chrome://tracing): a process per tracer, a thread
    /// track per traced thread; events are instants, `x_start`/`x_done` pairs become spans
    /// `x` when both halves are among `names`.
    Chrome {
        /// Where the JSON goes.
        out: W,
        /// Every event name the recording can hold.
        names: BTreeSet<String>,
        /// The tracks seen, with their process.
        threads: BTreeMap<(Tracer, u32), Option<u32>>,
        /// Whether an event was written (a comma goes before the next).
        any: bool,
    },
}

impl<W: Write> Writer<W> {
    /// A text timeline.
    pub fn text(out: W) -> Self {
        Self::Text(out)
    }

    /// A Chrome JSON timeline; `names` are the event names the recording can hold (for spans).
    pub fn chrome(mut out: W, names: BTreeSet<String>) -> Result<Self, String> {
        out.write_all(b"{\"traceEvents\":[")
            .map_err(|e| e.to_string())?;
        Ok(Self::Chrome {
            out,
            names,
            threads: BTreeMap::new(),
            any: false,
        })
    }

    /// Writes one entry.
    pub fn write(&mut self, e: &Entry) -> Result<(), String> {
        match self {
            Self::Text(out) => write_text(out, e).map_err(|e| e.to_string()),
            Self::Chrome {
                out,
                names,
                threads,
                any,
            } => {
                let tid = e.tid.unwrap_or(0);
                threads.entry((e.tracer, tid)).or_insert(e.pid);
                let mut args = serde_json::Map::new();
                args.insert("event".into(), json!(e.event));
                if let Some(pid) = e.pid {
                    args.insert("pid".into(), json!(pid));
                }
                for (k, v) in e.fields.iter() {
                    args.insert(
                        String::from_utf8_lossy(k).into_owned(),
                        json!(String::from_utf8_lossy(v)),
                    );
                }
                let ts = e.ts_ns as f64 / 1000.0;
                let mut event = json!({"name": e.event, "cat": e.tracer.tag(),
                    "pid": e.tracer.track_pid(), "tid": tid, "ts": ts, "args": args});
                match span_role(e.event, names) {
                    Some((base, begin)) => {
                        event["name"] = json!(base);
                        event["ph"] = json!(if begin { "B" } else { "E" });
                    }
                    None => {
                        event["ph"] = json!("i");
                        event["s"] = json!("t");
                    }
                }
                Self::chrome_event(out, any, &event)
            }
        }
    }

    fn chrome_event(out: &mut W, any: &mut bool, event: &Value) -> Result<(), String> {
        if std::mem::replace(any, true) {
            out.write_all(b",").map_err(|e| e.to_string())?;
        }
        serde_json::to_writer(&mut *out, event).map_err(|e| e.to_string())
    }

    /// Ends the file (the Chrome tracks' names) and flushes it.
    pub fn finish(self) -> Result<(), String> {
        match self {
            Self::Text(mut out) => out.flush().map_err(|e| e.to_string()),
            Self::Chrome {
                mut out,
                threads,
                mut any,
                ..
            } => {
                for tracer in [Tracer::Kernel, Tracer::Lttng] {
                    if threads.keys().any(|(t, _)| *t == tracer) {
                        let name = match tracer {
                            Tracer::Kernel => "kernel (user_events, ftrace)",
                            Tracer::Lttng => "LTTng-UST",
                        };
                        let m = json!({"ph": "M", "name": "process_name",
                            "pid": tracer.track_pid(), "tid": 0, "args": {"name": name}});
                        Self::chrome_event(&mut out, &mut any, &m)?;
                    }
                }
                for ((tracer, tid), pid) in threads {
                    let name = match pid {
                        Some(pid) => format!("{} thread {tid} (process {pid})", tracer.tag()),
                        None => format!("{} thread {tid}", tracer.tag()),
                    };
                    let m = json!({"ph": "M", "name": "thread_name",
                        "pid": tracer.track_pid(), "tid": tid, "args": {"name": name}});
                    Self::chrome_event(&mut out, &mut any, &m)?;
                }
                out.write_all(b"],\"displayTimeUnit\":\"ns\"}")
                    .map_err(|e| e.to_string())?;
                out.flush().map_err(|e| e.to_string())
            }
        }
    }
}

/// One line of the text timeline: `seconds.nanoseconds tracer pid/tid provider:event
/// name=value ...`, its pieces written as they are (no formatting machinery, no allocation):
/// this runs once per record of both tracers.
fn write_text(out: &mut impl Write, e: &Entry) -> std::io::Result<()> {
    let mut n = itoa::Buffer::new();
    out.write_all(n.format(e.ts_ns / 1_000_000_000).as_bytes())?;
    out.write_all(&nanos(e.ts_ns))?;
    // The tag padded to 6 columns.
    out.write_all(match e.tracer {
        Tracer::Kernel => b" kernel ",
        Tracer::Lttng => b" lttng  ",
    })?;
    match e.pid {
        Some(p) => out.write_all(n.format(p).as_bytes())?,
        None => out.write_all(b"?")?,
    }
    out.write_all(b"/")?;
    match e.tid {
        Some(t) => out.write_all(n.format(t).as_bytes())?,
        None => out.write_all(b"?")?,
    }
    out.write_all(b" ")?;
    out.write_all(e.event.as_bytes())?;
    // Fields after one space (an event without fields keeps the trailing space).
    out.write_all(b" ")?;
    for (i, (k, v)) in e.fields.iter().enumerate() {
        if i > 0 {
            out.write_all(b" ")?;
        }
        out.write_all(k)?;
        out.write_all(b"=")?;
        out.write_all(v)?;
    }
    out.write_all(b"\n")
}

/// `.nnnnnnnnn`: the nanoseconds of `ts_ns` within its second, 9 digits.
pub fn nanos(ts_ns: u64) -> [u8; 10] {
    let mut out = *b".000000000";
    let mut ns = ts_ns % 1_000_000_000;
    for d in out[1..].iter_mut().rev() {
        *d = b'0' + (ns % 10) as u8;
        ns /= 10;
    }
    out
}

/// The span an event begins or ends, by its name: `x_start`/`x_begin` begins span `x`,
/// `x_done`/`x_end`/`x_stop` ends it, when both halves exist among `names`.
fn span_role<'a>(event: &'a str, names: &BTreeSet<String>) -> Option<(&'a str, bool)> {
    const BEGIN: [&str; 2] = ["_start", "_begin"];
    const END: [&str; 3] = ["_done", "_end", "_stop"];
    let has = |base: &str, suffixes: &[&str]| {
        suffixes
            .iter()
            .any(|s| names.contains(&format!("{base}{s}")))
    };
    for s in BEGIN {
        if let Some(base) = event.strip_suffix(s) {
            return has(base, &END).then_some((base, true));
        }
    }
    for s in END {
        if let Some(base) = event.strip_suffix(s) {
            return has(base, &BEGIN).then_some((base, false));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ts_ns: u64, tracer: Tracer, event: &str) -> Entry {
        Entry {
            ts_ns,
            tracer,
            pid: Some(1),
            tid: Some(2),
            event: intern(event),
            fields: [("a", "1")].into_iter().collect(),
        }
    }

    #[test]
    fn read_ahead_keeps_order_and_returns_the_state() {
        let n = 3 * BATCH as u64 + 7;
        let (items, thread) = read_ahead(0u64, move |i| {
            (*i < n).then(|| {
                *i += 1;
                *i
            })
        });
        assert!(items.eq(1..=n));
        assert_eq!(thread.join().unwrap(), n);
        // The reader stopping early stops the thread (no hang on a full channel).
        let (mut items, thread) = read_ahead((), |_| Some(1u8));
        assert_eq!(items.next(), Some(1));
        drop(items);
        thread.join().unwrap();
    }

    #[test]
    fn merged_spans_instants_and_tracks() {
        let kernel = vec![
            entry(1_000, Tracer::Kernel, "p:req_start"),
            entry(1_500, Tracer::Kernel, "p:miss"),
        ];
        let lttng = vec![
            entry(1_000, Tracer::Lttng, "p:req_start"),
            entry(2_000, Tracer::Lttng, "p:req_done"),
        ];
        let sources = || -> Vec<Box<dyn Iterator<Item = Entry>>> {
            vec![
                Box::new(lttng.clone().into_iter()),
                Box::new(kernel.clone().into_iter()),
            ]
        };
        let mut text = Writer::text(Vec::new());
        merge(sources(), |e| text.write(&e)).unwrap();
        let Writer::Text(bytes) = text else {
            unreachable!()
        };
        let text = String::from_utf8(bytes).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "0.000001000 kernel 1/2 p:req_start a=1", "{text}");
        // The tag padded to 6 columns, as `{:<6}` did.
        assert_eq!(lines[1], "0.000001000 lttng  1/2 p:req_start a=1", "{text}");
        let mut unknown = entry(5, Tracer::Lttng, "p:bare");
        (unknown.pid, unknown.tid, unknown.fields) = (None, None, Fields::new());
        let mut w = Writer::text(Vec::new());
        w.write(&unknown).unwrap();
        let Writer::Text(bytes) = w else {
            unreachable!()
        };
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "0.000000005 lttng  ?/? p:bare \n"
        );
        assert!(lines[2].contains("p:miss") && lines[3].contains("p:req_done"));

        let names = ["p:req_start", "p:req_done", "p:miss"]
            .map(String::from)
            .into();
        let mut out = Vec::new();
        let mut chrome = Writer::chrome(&mut out, names).unwrap();
        merge(sources(), |e| chrome.write(&e)).unwrap();
        chrome.finish().unwrap();
        let json: Value = serde_json::from_slice(&out).unwrap();
        let events = json["traceEvents"].as_array().unwrap();
        let phases: Vec<&str> = events.iter().map(|e| e["ph"].as_str().unwrap()).collect();
        assert_eq!(phases.iter().filter(|p| **p == "M").count(), 4); // 2 processes, 2 threads
        assert_eq!(phases.iter().filter(|p| **p == "B").count(), 2);
        assert_eq!(phases.iter().filter(|p| **p == "E").count(), 1);
        assert_eq!(phases.iter().filter(|p| **p == "i").count(), 1);
        let b = events.iter().find(|e| e["ph"] == "B").unwrap();
        assert_eq!(b["name"], "p:req");
        assert_eq!(b["args"]["event"], "p:req_start");
    }
}
