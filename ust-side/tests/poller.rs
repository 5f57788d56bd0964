//! Issue 9: the polling fallback's reconciler thread woke every 10 ms forever. It must be
//! parked while no event is registered, and wake up (and count) when one is. Observed through
//! the thread's voluntary context switches in `/proc` (a thread asleep in `park` makes none),
//! against a real, private lttng-sessiond.

mod common;

use std::time::{Duration, Instant};

use common::{Lttng, isolated};
use cotrace_ust::{EventSpec, FieldSpec, FieldType, Loglevel, register_provider};
use cotrace_word::EnableWord;

static WORD: EnableWord = EnableWord::new();
static EV: EventSpec = EventSpec {
    provider: "p_poll",
    event: "ev",
    loglevel: Loglevel::Info,
    fields: &[FieldSpec {
        name: "n",
        ty: FieldType::U64,
    }],
    word: &WORD,
};

/// The `/proc/self/task/TID` directory of the thread named `name`, if it exists (`comm` holds
/// the first 15 bytes of the name).
fn thread_dir(name: &str) -> Option<std::path::PathBuf> {
    let short = &name[..name.len().min(15)];
    std::fs::read_dir("/proc/self/task")
        .ok()?
        .flatten()
        .find_map(|t| {
            let comm = std::fs::read_to_string(t.path().join("comm")).ok()?;
            (comm.trim_end() == short).then(|| t.path())
        })
}

/// How often the thread woke up over `window`.
fn wakeups(dir: &std::path::Path, window: Duration) -> u64 {
    let read = || {
        let status = std::fs::read_to_string(dir.join("status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .unwrap()
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    let before = read();
    std::thread::sleep(window);
    read() - before
}

/// Whether the thread wakes up `n` times within `bound` (returns how many times it did). A
/// loaded machine may run a 10 ms poller far less often than every 10 ms: count wake-ups up to
/// a generous bound rather than in a fixed window.
fn wakes_up(dir: &std::path::Path, n: u64, bound: Duration) -> u64 {
    let deadline = Instant::now() + bound;
    let mut seen = 0;
    while seen < n && Instant::now() < deadline {
        seen += wakeups(dir, Duration::from_millis(20));
    }
    seen
}

fn wait_users(want: u32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while WORD.snapshot().users() != want {
        assert!(
            Instant::now() < deadline,
            "count stayed {} (want {want})",
            WORD.snapshot().users()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn reconciler_is_parked_while_nothing_is_registered() {
    isolated("reconciler_is_parked_while_nothing_is_registered", || {
        // SAFETY: set before liblttng-ust is loaded and before this process starts any thread
        // of its own; the isolated run executes this one test alone.
        unsafe { std::env::set_var("COTRACE_UST_REFCOUNT", "poll") };
        let mut lttng = Lttng::start("poll");
        lttng.create("pl");
        lttng.lttng(&["enable-event", "-u", "p_poll:*", "-s", "pl"]);
        lttng.lttng(&["start", "pl"]);
        let window = Duration::from_millis(300);

        let p = register_provider("p_poll", &[&EV]).unwrap();
        let status = cotrace_ust::status().to_string();
        assert!(status.contains("refcount: polling"), "{status}");
        wait_users(1);
        let dir = thread_dir("cotrace-ust-poll").expect("the reconciler thread runs");
        let busy = wakes_up(&dir, 5, Duration::from_secs(10));
        assert!(
            busy >= 5,
            "a polling reconciler woke only {busy} times in 10 s"
        );

        // Nothing registered: the thread parks (a few switches while it notices).
        p.unregister();
        std::thread::sleep(Duration::from_millis(50));
        let idle = wakeups(&dir, window);
        assert!(
            idle <= 1,
            "with nothing registered the reconciler woke {idle} times in {window:?}"
        );

        // Registered again: it wakes up and counts the running session's attachment.
        let p = register_provider("p_poll", &[&EV]).unwrap();
        wait_users(1);
        let busy = wakes_up(&dir, 5, Duration::from_secs(10));
        assert!(
            busy >= 5,
            "the reconciler did not wake up: {busy} switches in 10 s"
        );
        lttng.lttng(&["stop", "pl"]);
        wait_users(0);
        drop(p);
    });
}

#[test]
fn no_reconciler_wakes_up_in_the_exact_mode() {
    isolated("no_reconciler_wakes_up_in_the_exact_mode", || {
        let mut lttng = Lttng::start("exact");
        lttng.create("ex");
        lttng.lttng(&["enable-event", "-u", "p_poll:*", "-s", "ex"]);
        lttng.lttng(&["start", "ex"]);
        let _p = register_provider("p_poll", &[&EV]).unwrap();
        let status = cotrace_ust::status().to_string();
        assert!(status.contains("refcount: exact"), "{status}");
        assert_eq!(WORD.snapshot().users(), 1);
        if let Some(dir) = thread_dir("cotrace-ust-poll") {
            let n = wakeups(&dir, Duration::from_millis(300));
            assert!(n <= 1, "a reconciler woke {n} times in the exact mode");
        }
    });
}
