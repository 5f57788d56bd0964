//! Firings LTTng missed because it was not ready yet in a process, told from the kernel's
//! records of the same firings.
//!
//! LTTng-UST records a process only once the session daemon has registered it and started the
//! session there: until then the process's probes return without recording, and nothing counts
//! it (LTTng's discarded-events counter counts a full buffer, not this). An application that
//! starts before its registration completes (`LTTNG_UST_REGISTER_TIMEOUT`, 3 s by default,
//! passes on a loaded machine) loses its first firings to LTTng silently. When the kernel
//! records the same events, [`Readiness`] counts them per process and event, and gives the
//! timeline a marker where LTTng's records of the process begin.
//!
//! cotrace's facade writes a firing's kernel record, then its LTTng record, in the firing
//! thread: in one thread's records a firing LTTng recorded is a kernel record followed by
//! LTTng's record of the same event. Threads fire concurrently, so that pair is looked for per
//! thread, never in the process's records as a whole (other threads' records come between). A
//! kernel record before LTTng's first record of the process is missed when the thread's next
//! record is not LTTng's record of it; after that first record, LTTng is ready and what it does
//! not record is its own loss (discarded events), not counted here.

use std::collections::{BTreeMap, HashMap};

use crate::timeline::{Entry, Fields, Tracer};

/// The timeline's marker where LTTng's records of a process begin after firings it missed.
pub const NOT_READY: &str = "cotrace:lttng_not_ready";

/// One process, as [`Readiness`] follows it.
#[derive(Default)]
struct Process {
    /// LTTng has recorded the process.
    ready: bool,
    /// Firings LTTng missed so far, per event.
    missed: BTreeMap<&'static str, u64>,
    /// Per thread, its last kernel record from before the process was ready, while it is not
    /// known whether LTTng records that firing (the thread's next record tells).
    pending: HashMap<Option<u32>, &'static str>,
    /// Its marker was written (or was not needed) once the count was final.
    told: bool,
}

impl Process {
    fn miss(&mut self, event: &'static str) {
        *self.missed.entry(event).or_default() += 1;
    }

    /// Missed so far, the pending records counted as missed (what they are if nothing else
    /// comes).
    fn total(&self) -> BTreeMap<&'static str, u64> {
        let mut all = self.missed.clone();
        for event in self.pending.values() {
            *all.entry(event).or_default() += 1;
        }
        all
    }
}

/// Per process: the kernel's records of firings before LTTng's first record of it that LTTng
/// did not record.
#[derive(Default)]
pub struct Readiness {
    processes: HashMap<u32, Process>,
    /// The latest timestamp observed: where the markers written at the end go.
    last_ts_ns: u64,
}

impl Readiness {
    /// Takes the next entry of the merged timeline (in time order, after its pid is known);
    /// returns a marker to write before it once LTTng has recorded a process and the number of
    /// its firings LTTng missed before that is known and not zero (usually at LTTng's first
    /// record of the process; later when a thread's last firing before it is not yet known to
    /// be recorded).
    pub fn observe(&mut self, e: &Entry) -> Option<Entry> {
        self.last_ts_ns = self.last_ts_ns.max(e.ts_ns);
        let pid = e.pid?;
        let p = self.processes.entry(pid).or_default();
        if p.told {
            return None;
        }
        match e.tracer {
            Tracer::Kernel => {
                // The thread fires again: LTTng did not record its previous firing.
                if let Some(previous) = p.pending.remove(&e.tid) {
                    p.miss(previous);
                }
                if !p.ready {
                    p.pending.insert(e.tid, e.event);
                }
            }
            Tracer::Lttng => {
                match p.pending.remove(&e.tid) {
                    // LTTng's record of the thread's pending firing.
                    Some(previous) if previous == e.event => {}
                    // Not that firing's (its kernel record was lost): it was not recorded.
                    Some(previous) => p.miss(previous),
                    None => {}
                }
                p.ready = true;
            }
        }
        if !p.ready || !p.pending.is_empty() {
            return None;
        }
        p.told = true;
        let missed: u64 = p.missed.values().sum();
        (missed > 0).then(|| marker(e.ts_ns, pid, e.tid, missed, "later"))
    }

    /// The markers whose count became final only at the end of the recording, after everything
    /// observed (so the timeline stays in time order), in pid order: `lttng=never` for the
    /// processes the kernel recorded and LTTng never did, `lttng=later` for those LTTng
    /// recorded while a thread's last firing before that was left unrecorded.
    pub fn finish(&self) -> Vec<Entry> {
        let mut pids: Vec<u32> = self.processes.keys().copied().collect();
        pids.sort_unstable();
        pids.into_iter()
            .filter_map(|pid| {
                let p = &self.processes[&pid];
                let missed: u64 = p.total().values().sum();
                let lttng = if p.ready { "later" } else { "never" };
                (!p.told && missed > 0).then(|| marker(self.last_ts_ns, pid, None, missed, lttng))
            })
            .collect()
    }

    /// Firings LTTng missed per event, summed over processes: those of processes LTTng
    /// recorded later (`late`) and of processes it never recorded (`never`).
    pub fn per_event(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for p in self.processes.values() {
            for (event, n) in p.total() {
                *out.entry(event.to_string()).or_default() += n;
            }
        }
        out.retain(|_, n| *n > 0);
        out
    }

    /// Processes LTTng recorded only after missing some of their firings: pid -> missed.
    pub fn late(&self) -> BTreeMap<u32, u64> {
        self.totals(true)
    }

    /// Processes the kernel recorded and LTTng never did: pid -> firings.
    pub fn never(&self) -> BTreeMap<u32, u64> {
        self.totals(false)
    }

    fn totals(&self, ready: bool) -> BTreeMap<u32, u64> {
        self.processes
            .iter()
            .filter(|(_, p)| p.ready == ready)
            .map(|(pid, p)| (*pid, p.total().values().sum()))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

/// A [`NOT_READY`] marker: `missed` firings of `pid`; `lttng` says whether LTTng recorded the
/// process `later` (the marker is where its records begin) or `never`.
fn marker(ts_ns: u64, pid: u32, tid: Option<u32>, missed: u64, lttng: &str) -> Entry {
    Entry {
        ts_ns,
        tracer: Tracer::Lttng,
        pid: Some(pid),
        tid,
        event: NOT_READY,
        fields: {
            let mut fields = Fields::new();
            fields.push_u64(b"missed", missed);
            fields.push(b"lttng", lttng.as_bytes());
            fields
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ts_ns: u64, tracer: Tracer, pid: u32, event: &'static str) -> Entry {
        Entry {
            ts_ns,
            tracer,
            pid: Some(pid),
            tid: Some(pid),
            event,
            fields: Fields::new(),
        }
    }

    #[test]
    fn counts_the_kernels_records_before_lttngs_first_of_each_process() {
        use Tracer::{Kernel, Lttng};
        let mut r = Readiness::default();
        let timeline = [
            entry(1, Kernel, 10, "p:a"), // missed
            entry(2, Kernel, 10, "p:b"), // missed
            entry(3, Kernel, 20, "p:a"), // pid 20: LTTng never records it
            entry(4, Kernel, 10, "p:a"), // the firing LTTng records first
            entry(5, Lttng, 10, "p:a"),
            entry(6, Kernel, 10, "p:a"), // both recorded
            entry(7, Lttng, 10, "p:a"),
            entry(8, Kernel, 30, "p:a"), // pid 30: ready from its first firing
            entry(9, Lttng, 30, "p:a"),
        ];
        let markers: Vec<Entry> = timeline.iter().filter_map(|e| r.observe(e)).collect();
        assert_eq!(markers.len(), 1, "{markers:?}");
        assert_eq!((markers[0].ts_ns, markers[0].pid), (5, Some(10)));
        let fields = |missed: &str, lttng: &str| {
            vec![
                ("missed".to_string(), missed.to_string()),
                ("lttng".to_string(), lttng.to_string()),
            ]
        };
        assert_eq!(markers[0].fields.pairs(), fields("2", "later"));
        assert_eq!(r.late(), BTreeMap::from([(10, 2)]));
        assert_eq!(r.never(), BTreeMap::from([(20, 1)]));
        // Pid 20's marker goes at the end, after the last entry observed (time order kept).
        let end = r.finish();
        assert_eq!(end.len(), 1, "{end:?}");
        assert_eq!((end[0].ts_ns, end[0].pid), (9, Some(20)));
        assert_eq!(end[0].fields.pairs(), fields("1", "never"));
        assert_eq!(
            r.per_event(),
            BTreeMap::from([("p:a".to_string(), 2), ("p:b".to_string(), 1)])
        );
    }

    #[test]
    fn nothing_missed_when_lttng_records_the_first_firing() {
        let mut r = Readiness::default();
        for i in 0..3 {
            assert_eq!(r.observe(&entry(2 * i, Tracer::Kernel, 1, "p:a")), None);
            assert_eq!(r.observe(&entry(2 * i + 1, Tracer::Lttng, 1, "p:a")), None);
        }
        assert!(r.per_event().is_empty() && r.late().is_empty() && r.never().is_empty());
        assert!(r.finish().is_empty());
    }

    fn at(ts_ns: u64, tracer: Tracer, pid: u32, tid: u32, event: &'static str) -> Entry {
        Entry {
            tid: Some(tid),
            ..entry(ts_ns, tracer, pid, event)
        }
    }

    /// Seen on a cold CI machine: threads of one process fire at once, so the kernel record of
    /// one thread's firing comes between another thread's kernel record and LTTng's record of
    /// the same firing. LTTng recorded every firing: nothing was missed.
    #[test]
    fn concurrent_threads_firings_that_lttng_recorded_are_not_missed() {
        use Tracer::{Kernel, Lttng};
        let mut r = Readiness::default();
        let timeline = [
            at(1, Kernel, 10, 11, "p:a"),
            at(2, Kernel, 10, 12, "p:b"),
            at(3, Lttng, 10, 11, "p:a"), // LTTng's first record of pid 10
            at(4, Kernel, 10, 13, "p:a"),
            at(5, Lttng, 10, 12, "p:b"),
            at(6, Lttng, 10, 13, "p:a"),
            at(7, Kernel, 10, 11, "p:b"),
            at(8, Lttng, 10, 11, "p:b"),
        ];
        let markers: Vec<Entry> = timeline.iter().filter_map(|e| r.observe(e)).collect();
        assert!(markers.is_empty(), "{markers:?}");
        assert!(r.finish().is_empty());
        assert!(r.per_event().is_empty() && r.late().is_empty() && r.never().is_empty());
    }

    /// Threads of one process: what each thread fired before LTTng was ready, and LTTng did not
    /// record, is missed; a thread's last firing before that, which LTTng did record, is not.
    #[test]
    fn each_threads_unrecorded_firings_are_missed() {
        use Tracer::{Kernel, Lttng};
        let mut r = Readiness::default();
        let timeline = [
            at(1, Kernel, 10, 11, "p:a"), // missed (tid 11 fires again before LTTng records it)
            at(2, Kernel, 10, 12, "p:b"), // missed (tid 12 fires again)
            at(3, Kernel, 10, 11, "p:a"),
            at(4, Kernel, 10, 12, "p:b"),
            at(5, Kernel, 10, 14, "p:c"), // missed: tid 14 never fires again, LTTng never has it
            at(6, Lttng, 10, 11, "p:a"),
            at(7, Lttng, 10, 12, "p:b"),
            at(8, Kernel, 10, 11, "p:a"),
            at(9, Lttng, 10, 11, "p:a"),
        ];
        let markers: Vec<Entry> = timeline.iter().filter_map(|e| r.observe(e)).collect();
        let markers: Vec<Entry> = markers.into_iter().chain(r.finish()).collect();
        assert_eq!(markers.len(), 1, "{markers:?}");
        assert_eq!(markers[0].pid, Some(10));
        assert_eq!(
            markers[0].fields.pairs(),
            [
                ("missed".to_string(), "3".to_string()),
                ("lttng".to_string(), "later".to_string())
            ]
        );
        assert_eq!(r.late(), BTreeMap::from([(10, 3)]));
        assert!(r.never().is_empty());
        assert_eq!(
            r.per_event(),
            BTreeMap::from([
                ("p:a".to_string(), 1),
                ("p:b".to_string(), 1),
                ("p:c".to_string(), 1)
            ])
        );
    }
}
