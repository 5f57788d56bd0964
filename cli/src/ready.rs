//! Firings LTTng missed because it was not ready yet in a process, told from the kernel's
//! records of the same firings.
//!
//! LTTng-UST records a process only once the session daemon has registered it and started the
//! session there: until then the process's probes return without recording, and nothing counts
//! it (LTTng's discarded-events counter counts a full buffer, not this). An application that
//! starts before its registration completes (`LTTNG_UST_REGISTER_TIMEOUT`, 3 s by default,
//! passes on a loaded machine) loses its first firings to LTTng silently. When the kernel
//! records the same events, its records of a process that come before LTTng's first record of
//! that process are exactly those firings: [`Readiness`] counts them per process and event, and
//! gives the timeline a marker where LTTng's records of the process begin.
//!
//! cotrace's facade writes a firing's kernel record before its LTTng record, so the kernel
//! record of the firing LTTng recorded first also comes before it; it is not counted.

use std::collections::{BTreeMap, HashMap};

use crate::timeline::{Entry, Fields, Tracer};

/// The timeline's marker where LTTng's records of a process begin after firings it missed.
pub const NOT_READY: &str = "cotrace:lttng_not_ready";

/// A process LTTng has not recorded yet: the kernel's records of it so far, per event, and the
/// last one's event and thread (the firing LTTng may record next).
#[derive(Default)]
struct Waiting {
    counts: BTreeMap<String, u64>,
    last: Option<(&'static str, Option<u32>)>,
}

/// Per process: the kernel's records before LTTng's first record of it.
#[derive(Default)]
pub struct Readiness {
    /// Processes LTTng has recorded: their missed firings, per event (final).
    ready: HashMap<u32, BTreeMap<String, u64>>,
    /// Processes LTTng has not recorded yet.
    waiting: HashMap<u32, Waiting>,
    /// The latest timestamp observed: where the markers of processes LTTng never recorded go.
    last_ts_ns: u64,
}

impl Readiness {
    /// Takes the next entry of the merged timeline (in time order, after its pid is known);
    /// returns a marker to write before it when it is LTTng's first record of a process that
    /// the kernel recorded firings of before.
    pub fn observe(&mut self, e: &Entry) -> Option<Entry> {
        self.last_ts_ns = self.last_ts_ns.max(e.ts_ns);
        let pid = e.pid?;
        if self.ready.contains_key(&pid) {
            return None;
        }
        match e.tracer {
            Tracer::Kernel => {
                let w = self.waiting.entry(pid).or_default();
                match w.counts.get_mut(e.event) {
                    Some(n) => *n += 1,
                    None => {
                        w.counts.insert(e.event.to_string(), 1);
                    }
                }
                w.last = Some((e.event, e.tid));
                None
            }
            Tracer::Lttng => {
                let Waiting { mut counts, last } = self.waiting.remove(&pid).unwrap_or_default();
                // The kernel record of this same firing (same event, same thread, just before).
                if last.is_some_and(|(event, tid)| event == e.event && tid == e.tid) {
                    if let Some(n) = counts.get_mut(e.event) {
                        *n -= 1;
                    }
                }
                counts.retain(|_, n| *n > 0);
                let missed: u64 = counts.values().sum();
                self.ready.insert(pid, counts);
                (missed > 0).then(|| marker(e.ts_ns, pid, e.tid, missed, "later"))
            }
        }
    }

    /// The markers of processes the kernel recorded and LTTng never did, at the end of the
    /// timeline (after everything observed, so the timeline stays in time order), one per
    /// process in pid order, with `lttng=never`.
    pub fn finish(&self) -> Vec<Entry> {
        self.never()
            .into_iter()
            .map(|(pid, missed)| marker(self.last_ts_ns, pid, None, missed, "never"))
            .collect()
    }

    /// Firings LTTng missed per event, summed over processes: those of processes LTTng
    /// recorded later (`late`) and of processes it never recorded (`never`).
    pub fn per_event(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        let all = self
            .ready
            .values()
            .chain(self.waiting.values().map(|w| &w.counts));
        for counts in all {
            for (event, n) in counts {
                *out.entry(event.clone()).or_default() += n;
            }
        }
        out.retain(|_, n| *n > 0);
        out
    }

    /// Processes LTTng recorded only after missing some of their firings: pid -> missed.
    pub fn late(&self) -> BTreeMap<u32, u64> {
        Self::totals(self.ready.iter())
    }

    /// Processes the kernel recorded and LTTng never did: pid -> firings.
    pub fn never(&self) -> BTreeMap<u32, u64> {
        Self::totals(self.waiting.iter().map(|(p, w)| (p, &w.counts)))
    }

    fn totals<'a>(
        it: impl Iterator<Item = (&'a u32, &'a BTreeMap<String, u64>)>,
    ) -> BTreeMap<u32, u64> {
        it.map(|(pid, counts)| (*pid, counts.values().sum()))
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
}
