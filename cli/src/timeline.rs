//! The merged timeline of both tracers: text and Chrome's Trace Event Format.

use std::collections::{BTreeMap, BTreeSet};

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
    /// `provider:event`.
    pub event: String,
    /// `name=value` pairs.
    pub fields: Vec<(String, String)>,
}

/// Sorts by time (ties: kernel first, then by thread).
pub fn sort(entries: &mut [Entry]) {
    entries.sort_by_key(|e| (e.ts_ns, e.tracer, e.tid));
}

/// One line per entry: `seconds.nanoseconds tracer pid/tid provider:event name=value ...`.
pub fn text(entries: &[Entry]) -> String {
    let mut out = String::new();
    for e in entries {
        let fields: Vec<String> = e.fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out.push_str(&format!(
            "{}.{:09} {:<6} {}/{} {} {}\n",
            e.ts_ns / 1_000_000_000,
            e.ts_ns % 1_000_000_000,
            e.tracer.tag(),
            e.pid.map_or("?".into(), |p| p.to_string()),
            e.tid.map_or("?".into(), |t| t.to_string()),
            e.event,
            fields.join(" ")
        ));
    }
    out
}

/// The span an event begins or ends, by its name: `x_start`/`x_begin` begins span `x`,
/// `x_done`/`x_end`/`x_stop` ends it, when both halves exist among `names`.
fn span_role<'a>(event: &'a str, names: &BTreeSet<&str>) -> Option<(&'a str, bool)> {
    const BEGIN: [&str; 2] = ["_start", "_begin"];
    const END: [&str; 3] = ["_done", "_end", "_stop"];
    let has = |base: &str, suffixes: &[&str]| {
        suffixes
            .iter()
            .any(|s| names.contains(&*format!("{base}{s}")))
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

/// The Trace Event Format (Perfetto UI, chrome://tracing): a process per tracer, a thread track
/// per traced thread; events are instants, `x_start`/`x_done` pairs become spans `x`.
pub fn chrome_json(entries: &[Entry]) -> Value {
    let names: BTreeSet<&str> = entries.iter().map(|e| e.event.as_str()).collect();
    let mut events = Vec::new();
    let mut threads: BTreeMap<(Tracer, u32), Option<u32>> = BTreeMap::new();
    for tracer in [Tracer::Kernel, Tracer::Lttng] {
        if entries.iter().any(|e| e.tracer == tracer) {
            let name = match tracer {
                Tracer::Kernel => "kernel (user_events, ftrace)",
                Tracer::Lttng => "LTTng-UST",
            };
            events.push(
                json!({"ph": "M", "name": "process_name", "pid": tracer.track_pid(),
                "tid": 0, "args": {"name": name}}),
            );
        }
    }
    for e in entries {
        let tid = e.tid.unwrap_or(0);
        threads.entry((e.tracer, tid)).or_insert(e.pid);
        let mut args = serde_json::Map::new();
        args.insert("event".into(), json!(e.event));
        if let Some(pid) = e.pid {
            args.insert("pid".into(), json!(pid));
        }
        for (k, v) in &e.fields {
            args.insert(k.clone(), json!(v));
        }
        let ts = e.ts_ns as f64 / 1000.0;
        let mut event = json!({"name": e.event, "cat": e.tracer.tag(), "pid": e.tracer.track_pid(),
            "tid": tid, "ts": ts, "args": args});
        match span_role(&e.event, &names) {
            Some((base, begin)) => {
                event["name"] = json!(base);
                event["ph"] = json!(if begin { "B" } else { "E" });
            }
            None => {
                event["ph"] = json!("i");
                event["s"] = json!("t");
            }
        }
        events.push(event);
    }
    for ((tracer, tid), pid) in threads {
        let name = match pid {
            Some(pid) => format!("{} thread {tid} (process {pid})", tracer.tag()),
            None => format!("{} thread {tid}", tracer.tag()),
        };
        events.push(
            json!({"ph": "M", "name": "thread_name", "pid": tracer.track_pid(),
            "tid": tid, "args": {"name": name}}),
        );
    }
    json!({"traceEvents": events, "displayTimeUnit": "ns"})
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
            event: event.into(),
            fields: vec![("a".into(), "1".into())],
        }
    }

    #[test]
    fn spans_instants_and_tracks() {
        let mut entries = vec![
            entry(2_000, Tracer::Lttng, "p:req_done"),
            entry(1_000, Tracer::Lttng, "p:req_start"),
            entry(1_000, Tracer::Kernel, "p:req_start"),
            entry(1_500, Tracer::Kernel, "p:miss"),
        ];
        sort(&mut entries);
        assert_eq!(entries[0].tracer, Tracer::Kernel);
        let text = text(&entries);
        assert!(
            text.starts_with("0.000001000 kernel 1/2 p:req_start a=1\n"),
            "{text}"
        );
        let json = chrome_json(&entries);
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
