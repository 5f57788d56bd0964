//! `cotrace::status()` counts an event's kernel writes that did not go as fired: an event too
//! large for the kernel's consumers is recorded truncated (never dropped, never a kernel
//! warning) and counted. Needs user_events: scripts/test.sh runs this file in the VM with
//! `COTRACE_REQUIRE_USER_EVENTS=1`; elsewhere it prints why it is skipped.

use std::path::Path;
use std::time::{Duration, Instant};

cotrace::provider! {
    /// Events of this test.
    pub mod kw_test {
        /// A message of any length.
        fn big(n: u32, text: &str);
    }
}

#[test]
fn an_oversized_event_is_recorded_truncated_and_counted_in_status() {
    let status = cotrace::init();
    let Ok(tracefs) = cotrace::cotrace_kernel::availability() else {
        assert!(
            std::env::var_os("COTRACE_REQUIRE_USER_EVENTS").is_none(),
            "user_events required here but unavailable: {}",
            status.kernel
        );
        // Straight to stderr, past libtest's capture, so CI's closing line counts the skip.
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED kernel_writes: no user_events here ({})",
            status.kernel
        );
        return;
    };
    let event = |status: &cotrace::Status| {
        status
            .events
            .iter()
            .find(|e| e.lttng_name == "kw_test:big")
            .cloned()
            .expect("kw_test:big listed")
    };
    let before = event(&status);
    assert_eq!(before.kernel, cotrace::Registration::Registered, "{status}");
    assert!(
        before.kernel_writes.is_clean(),
        "{:?}",
        before.kernel_writes
    );

    let enable = tracefs
        .join("events/user_events")
        .join(before.kernel_name)
        .join("enable");
    std::fs::write(&enable, "1").unwrap();
    wait(|| kw_test::big.is_enabled());
    cotrace::fire!(kw_test::big(1, &"x".repeat(6000)));
    cotrace::fire!(kw_test::big(2, "small"));
    std::fs::write(&enable, "0").unwrap();

    let after = cotrace::status();
    let counts = event(&after).kernel_writes;
    assert_eq!(
        (counts.truncated, counts.dropped, counts.failed),
        (1, 0, 0),
        "{counts:?}"
    );
    let text = after.to_string();
    assert!(
        text.contains("kernel writes: 1 truncated, 0 dropped, 0 failed"),
        "{text}"
    );
    let trace = std::fs::read_to_string(Path::new(tracefs).join("trace")).unwrap();
    let tag = format!(" {}: ", before.kernel_name);
    let mine: Vec<_> = trace.lines().filter(|l| l.contains(&tag)).collect();
    assert!(
        mine.iter()
            .any(|l| l.contains("n=0x1 (1)") && l.contains("xxx[truncated]")),
        "{mine:#?}"
    );
    assert!(mine.iter().any(|l| l.contains("text=small")), "{mine:#?}");
}

fn wait(mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out");
        std::thread::sleep(Duration::from_millis(5));
    }
}
