//! Histogram triggers and synthetic events on cotrace events: what every distribution kernel
//! offers with `CONFIG_HIST_TRIGGERS` (which selects TRACING_MAP and SYNTH_EVENTS).
//!
//! - a `hist:keys=status:vals=latency_ns` trigger (and one keyed by a string field) counts and
//!   sums exactly what was written, read back from the event's `hist` file;
//! - a synthetic latency event joins `request_start` to `request_done` on `id` (`onmatch`) and
//!   records one record per matched pair with the latency computed by the kernel.
//!
//! Needs user_events and hist triggers: scripts/test-kernel.sh runs it in the VM, whose kernel
//! has both (`vm/kernel.config`). On a kernel without `CONFIG_HIST_TRIGGERS` writing the
//! trigger fails with `Invalid argument` and these tests fail saying so.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use cotrace_kernel::{FieldType, Value, WriteOutcome};

/// Appends `line` to a tracefs control file (never truncates it: truncating `synthetic_events`
/// removes every synthetic event). Returns the error, with the kernel's `error_log` tail.
fn append(tracefs: &Path, file: &Path, line: &str) -> Result<(), String> {
    let result = std::fs::OpenOptions::new()
        .append(true)
        .open(file)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    result.map_err(|e| {
        let log = std::fs::read_to_string(tracefs.join("error_log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(3).collect();
        format!(
            "writing {line:?} to {}: {e} (error_log: {:?})",
            file.display(),
            tail.into_iter().rev().collect::<Vec<_>>()
        )
    })
}

/// `<tracefs>/events/user_events/<name>/<file>`.
fn event_file(tracefs: &Path, name: &str, file: &str) -> std::path::PathBuf {
    common::event_dir(tracefs, "user_events", name).join(file)
}

/// One line of a `hist` file: `{ key: value } hitcount: N  val: M ...` as
/// (key text, {"hitcount": N, "val": M}).
fn hist_entry(line: &str) -> Option<(String, BTreeMap<String, u64>)> {
    let rest = line.trim().strip_prefix('{')?;
    let (key, values) = rest.split_once('}')?;
    let key = key.split_once(':')?.1.trim().to_owned();
    let words: Vec<&str> = values.split_whitespace().collect();
    let mut map = BTreeMap::new();
    for pair in words.chunks(2) {
        if let [name, value] = pair {
            map.insert(name.trim_end_matches(':').to_owned(), value.parse().ok()?);
        }
    }
    Some((key, map))
}

/// The entries of a `hist` file, by key.
fn hist_entries(text: &str) -> BTreeMap<String, BTreeMap<String, u64>> {
    text.lines().filter_map(hist_entry).collect()
}

/// The `request_done` of the shop example: `id u64; status u16; path string; latency_ns u64`.
const DONE_FIELDS: &[(&str, FieldType)] = &[
    ("id", FieldType::U64),
    ("status", FieldType::U16),
    ("path", FieldType::Str),
    ("latency_ns", FieldType::U64),
];

#[test]
fn a_hist_trigger_counts_and_sums_what_was_written() {
    let Some(tracefs) = common::user_events("hist_trigger") else {
        return;
    };
    let (name, word, reg) = common::register_fresh("hist_done", DONE_FIELDS);
    let trigger = event_file(tracefs, &name, "trigger");
    let by_status = "hist:keys=status:vals=latency_ns";
    let by_path = "hist:keys=path";
    append(tracefs, &trigger, by_status)
        .unwrap_or_else(|e| panic!("this kernel refuses hist triggers: {e}"));
    append(tracefs, &trigger, by_path).unwrap();
    // A trigger enables the tracepoint (soft mode: records reach the trigger, not `trace`).
    common::wait_kernel_bit(word, true);

    let requests: &[(u64, u16, &str, u64)] = &[
        (1, 200, "/item/1", 1_000),
        (2, 200, "/item/2", 2_500),
        (3, 404, "/item/9", 700),
        (4, 200, "/item/1", 4_000),
        (5, 500, "/cart", 12_345),
    ];
    for &(id, status, path, latency) in requests {
        let values = [
            Value::U64(id),
            Value::U16(status),
            Value::Str(path),
            Value::U64(latency),
        ];
        assert_eq!(reg.write(&values), Ok(WriteOutcome::Written));
    }
    let mut by_key: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for &(_, status, _, latency) in requests {
        let e = by_key.entry(status.to_string()).or_default();
        e.0 += 1;
        e.1 += latency;
    }
    let mut by_path_want: BTreeMap<String, u64> = BTreeMap::new();
    for &(_, _, path, _) in requests {
        *by_path_want.entry(path.to_owned()).or_default() += 1;
    }

    // The hist file lists every trigger's table; split it at each "# trigger info" line.
    let hist = event_file(tracefs, &name, "hist");
    let read_tables = || {
        let text = std::fs::read_to_string(&hist).unwrap();
        let mut tables: BTreeMap<String, String> = BTreeMap::new();
        let mut current = String::new();
        for line in text.lines() {
            if let Some(info) = line.strip_prefix("# trigger info: ") {
                current = info.split(':').nth(1).unwrap_or_default().to_owned();
            }
            tables.entry(current.clone()).or_default().push_str(line);
            tables.get_mut(&current).unwrap().push('\n');
        }
        (text, tables)
    };
    let mut seen = String::new();
    let ok = common::wait_until(|| {
        let (text, tables) = read_tables();
        seen = text;
        let status: BTreeMap<String, (u64, u64)> =
            hist_entries(tables.get("keys=status").map_or("", |s| s))
                .into_iter()
                .map(|(k, v)| (k, (v["hitcount"], v["latency_ns"])))
                .collect();
        let paths: BTreeMap<String, u64> = hist_entries(tables.get("keys=path").map_or("", |s| s))
            .into_iter()
            .map(|(k, v)| (k, v["hitcount"]))
            .collect();
        status == by_key && paths == by_path_want
    });

    append(tracefs, &trigger, &format!("!{by_status}")).unwrap();
    append(tracefs, &trigger, &format!("!{by_path}")).unwrap();
    common::wait_kernel_bit(word, false);
    assert!(
        ok,
        "hist tables differ from what was written:\nwant by status (hits, sum): {by_key:?}\n\
         want by path: {by_path_want:?}\nhist file:\n{seen}"
    );
    // Soft mode: nothing reached the `trace` file.
    assert!(common::trace_lines(tracefs, &name).is_empty());
}

/// Removes a synthetic event and the triggers that feed it when dropped, so a failed
/// assertion leaves the next test a clean tracefs.
struct Cleanup<'a> {
    tracefs: &'a Path,
    steps: Vec<(std::path::PathBuf, String)>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for (file, line) in self.steps.iter().rev() {
            let _ = append(self.tracefs, file, line);
        }
    }
}

#[test]
fn a_synthetic_latency_event_joins_start_and_done_on_id() {
    let Some(tracefs) = common::user_events("hist_synthetic") else {
        return;
    };
    // request_start carries the start time t0, request_done the end time t1 (values chosen by
    // the test, so the latency the kernel computes is known exactly); the kernel's own
    // timestamps give a second latency, checked for being within the test's wall time.
    let (start, start_word, start_reg) = common::register_fresh(
        "hist_start",
        &[
            ("id", FieldType::U64),
            ("path", FieldType::Str),
            ("t0", FieldType::U64),
        ],
    );
    let (done, done_word, done_reg) = common::register_fresh(
        "hist_done",
        &[
            ("id", FieldType::U64),
            ("status", FieldType::U16),
            ("t1", FieldType::U64),
        ],
    );
    let synth = common::unique("hist_lat");
    let synthetic_events = tracefs.join("synthetic_events");
    let start_trigger = event_file(tracefs, &start, "trigger");
    let done_trigger = event_file(tracefs, &done, "trigger");
    let synth_enable = common::event_dir(tracefs, "synthetic", &synth).join("enable");
    let mut cleanup = Cleanup {
        tracefs,
        steps: Vec::new(),
    };

    let definition = format!("{synth} u64 id; u64 lat; u64 ts_lat; char path[]");
    append(tracefs, &synthetic_events, &definition)
        .unwrap_or_else(|e| panic!("this kernel refuses synthetic events: {e}"));
    cleanup
        .steps
        .push((synthetic_events.clone(), format!("!{synth}")));
    let save = "hist:keys=id:t0=t0,ts0=common_timestamp.usecs,path0=path";
    append(tracefs, &start_trigger, save)
        .unwrap_or_else(|e| panic!("this kernel refuses hist triggers: {e}"));
    cleanup
        .steps
        .push((start_trigger.clone(), format!("!{save}")));
    let on_match = format!(
        "hist:keys=id:lat=t1-$t0,ts_lat=common_timestamp.usecs-$ts0:\
         onmatch(user_events.{start}).trace({synth},id,$lat,$ts_lat,$path0)"
    );
    append(tracefs, &done_trigger, &on_match).unwrap();
    cleanup
        .steps
        .push((done_trigger.clone(), format!("!{on_match}")));
    std::fs::write(&synth_enable, "1").unwrap();
    cleanup.steps.push((synth_enable.clone(), "0".to_owned()));
    common::wait_kernel_bit(start_word, true);
    common::wait_kernel_bit(done_word, true);

    // Three requests, interleaved; one done without a start (no record) and one start
    // without a done (no record).
    let began = std::time::Instant::now();
    let start_of = |id: u64, path: &str, t0: u64| {
        let values = [Value::U64(id), Value::Str(path), Value::U64(t0)];
        assert_eq!(start_reg.write(&values), Ok(WriteOutcome::Written));
    };
    let done_of = |id: u64, t1: u64| {
        let values = [Value::U64(id), Value::U16(200), Value::U64(t1)];
        assert_eq!(done_reg.write(&values), Ok(WriteOutcome::Written));
    };
    start_of(1, "/item/1", 1_000);
    start_of(2, "/item/2", 5_000);
    done_of(1, 1_250);
    done_of(99, 7_000);
    start_of(3, "/cart", 10_000);
    done_of(3, 14_000);
    done_of(2, 5_700);
    start_of(4, "/never-done", 20_000);
    let wall_us = began.elapsed().as_micros() as u64;
    let want: &[(u64, u64, &str)] = &[
        (1, 250, "/item/1"),
        (3, 4_000, "/cart"),
        (2, 700, "/item/2"),
    ];

    let mut lines = Vec::new();
    let ok = common::wait_until(|| {
        lines = common::trace_lines(tracefs, &synth);
        lines.len() >= want.len()
    });
    assert!(
        ok,
        "{} synthetic records, want {}: {lines:#?}",
        lines.len(),
        want.len()
    );
    assert_eq!(lines.len(), want.len(), "{lines:#?}");
    for (line, &(id, lat, path)) in lines.iter().zip(want) {
        let fields = common::fields_of(line, &synth);
        assert!(
            fields.starts_with(&format!("id={id} lat={lat} ts_lat="))
                && fields.trim_end().ends_with(&format!("path={path}")),
            "line: {line}"
        );
        let ts_lat: u64 = fields
            .split_whitespace()
            .find_map(|w| w.strip_prefix("ts_lat="))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no ts_lat in {line}"));
        assert!(
            ts_lat <= wall_us,
            "ts_lat {ts_lat} us > the test's {wall_us} us: {line}"
        );
    }

    // A sized string field is refused for a user_events string (as for raw events): the
    // synthetic field must be `char path[]`.
    let sized = common::unique("hist_sized");
    append(
        tracefs,
        &synthetic_events,
        &format!("{sized} u64 id; char path[16]"),
    )
    .unwrap();
    cleanup
        .steps
        .push((synthetic_events.clone(), format!("!{sized}")));
    let sized_match = format!("hist:keys=id:onmatch(user_events.{start}).trace({sized},id,$path0)");
    let refused = append(tracefs, &done_trigger, &sized_match);
    if refused.is_ok() {
        cleanup
            .steps
            .push((done_trigger.clone(), format!("!{sized_match}")));
    }
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.contains("Invalid argument")),
        "a char path[16] synthetic field took a user_events string (update the docs): {refused:?}"
    );
    drop(cleanup);
    common::wait_kernel_bit(start_word, false);
    common::wait_kernel_bit(done_word, false);
}
