//! The `user_events_data` descriptor can never become someone else's file.
//!
//! The daemon scenario: events are registered, then the process closes every descriptor >= 3
//! (`close_range`, as daemons do) and opens its own log file, which gets the lowest free number.
//! An ftrace `enable` must then lead to events in the kernel's trace (re-registered on a fresh
//! descriptor) and not one byte in the log file. When no fresh descriptor can be had, writes
//! are dropped (counted), the loss is reported, and the events come back once it can.
//!
//! These tests close descriptors of the whole process: they live in their own binary and run
//! one at a time. Needs user_events: scripts/test-kernel.sh runs them in the VM.

mod common;

use std::io::Read;
use std::os::fd::AsRawFd;
use std::sync::Mutex;
use std::time::Duration;

use cotrace_kernel::{FieldType, Value, WriteError, WriteOutcome};

/// The tests below close every descriptor >= 3 of the process: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// `close_range(3, ~0, 0)`: what a daemon does after fork.
fn close_every_descriptor_from_3() {
    // SAFETY: closes descriptors of this process only; nothing in this test binary uses a
    // descriptor >= 3 across this call (the tests are serialised).
    let ret = unsafe { libc::close_range(3, u32::MAX, 0) };
    assert_eq!(ret, 0, "close_range: {}", std::io::Error::last_os_error());
}

fn read_all(path: &std::path::Path) -> Vec<u8> {
    let mut out = Vec::new();
    std::fs::File::open(path)
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_daemon_closing_every_descriptor_gets_no_trace_bytes_and_keeps_its_events() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(tracefs) = common::user_events("descriptor") else {
        return;
    };
    let (name, word, reg) =
        common::register_fresh("dsc", &[("n", FieldType::U32), ("s", FieldType::Str)]);

    close_every_descriptor_from_3();
    let log_path = std::env::temp_dir().join(format!("{name}.log"));
    let mut log = std::fs::File::create(&log_path).unwrap();
    std::io::Write::write_all(&mut log, b"app log\n").unwrap();
    let log_fd = log.as_raw_fd();

    common::set_enabled(tracefs, &name, true);
    common::wait_kernel_bit(word, true);
    let marker = "payload-of-the-trace";
    let outcomes: Vec<_> = (1..=3)
        .map(|n| {
            // The first write (the one that finds the descriptor gone) takes the typed path of
            // `provider!` events, the second the checked one.
            let values = [Value::U32(n), Value::Str(marker)];
            if n == 2 {
                reg.write(&values)
            } else {
                reg.write_typed(&values)
            }
        })
        .collect();
    std::io::Write::flush(&mut log).unwrap();
    let logged = read_all(&log_path);
    assert!(
        !contains(&logged, marker.as_bytes()),
        "the app's log file (fd {log_fd}) received trace bytes: {:?}",
        String::from_utf8_lossy(&logged)
    );
    assert_eq!(logged, b"app log\n", "the log file was written to");
    assert_eq!(outcomes, vec![Ok(WriteOutcome::Written); 3]);
    let status = cotrace_kernel::descriptor_status().unwrap();
    assert!(status.reopened >= 1 && status.lost.is_none(), "{status:?}");
    assert_ne!(status.fd, Some(log_fd), "{status:?}");
    for n in 1..=3 {
        common::wait_trace_line(tracefs, &name, &[&format!("n=0x{n:x} ({n})"), marker]);
    }
    common::set_enabled(tracefs, &name, false);
    common::wait_kernel_bit(word, false);
    drop(log);
    let _ = std::fs::remove_file(&log_path);
    std::thread::sleep(Duration::from_millis(10));
}

/// Sets the soft `RLIMIT_NOFILE`; returns the previous one.
fn set_soft_nofile(soft: u64) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid struct; only this process's limit changes.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        let old = limit.rlim_cur;
        limit.rlim_cur = soft;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        old
    }
}

#[test]
fn a_descriptor_that_cannot_be_replaced_drops_events_says_so_and_comes_back() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(tracefs) = common::user_events("descriptor_lost") else {
        return;
    };
    let (name, word, reg) = common::register_fresh("dsl", &[("s", FieldType::Str)]);
    common::set_enabled(tracefs, &name, true);
    common::wait_kernel_bit(word, true);

    // The daemon closes everything and has no descriptor left to give (EMFILE).
    close_every_descriptor_from_3();
    let old_limit = set_soft_nofile(4);
    let log_path = std::env::temp_dir().join(format!("{name}.log"));
    let log = std::fs::File::create(&log_path).unwrap();
    let lost = reg.write(&[Value::Str("lost-payload")]);
    let status = cotrace_kernel::descriptor_status().unwrap();
    set_soft_nofile(old_limit);

    assert_eq!(lost, Err(WriteError::DescriptorLost));
    assert!(
        read_all(&log_path).is_empty(),
        "the log file got trace bytes"
    );
    assert_eq!(status.fd, None, "{status:?}");
    let why = status
        .lost
        .as_ref()
        .expect("the loss is reported")
        .to_string();
    assert!(why.contains("Too many open files"), "{why}");
    let text = status.to_string();
    assert!(
        text.contains("closed by the application") && text.contains("could not be reopened"),
        "{text}"
    );
    let stats = reg.write_stats();
    assert_eq!((stats.dropped, stats.failed), (1, 0), "{stats:?}");

    // Descriptors are available again: the status check reopens at once, the next write
    // re-registers and lands.
    let status = cotrace_kernel::descriptor_status().unwrap();
    assert!(status.fd.is_some() && status.lost.is_none(), "{status:?}");
    assert!(status.reopened >= 1, "{status:?}");
    assert!(status.to_string().contains("reopened"), "{status}");
    common::wait_kernel_bit(word, true);
    assert_eq!(
        reg.write(&[Value::Str("back-again")]),
        Ok(WriteOutcome::Written)
    );
    common::wait_trace_line(tracefs, &name, &["s=back-again"]);
    assert!(
        common::trace_lines(tracefs, &name)
            .iter()
            .all(|l| !l.contains("lost-payload"))
    );
    common::set_enabled(tracefs, &name, false);
    common::wait_kernel_bit(word, false);
    drop(log);
    let _ = std::fs::remove_file(&log_path);
}

#[test]
fn with_verification_on_a_number_taken_over_by_dup2_gets_no_bytes() {
    // The residual case of the default mode: the application closes cotrace's descriptor AND
    // puts its own file at that very number before any enabled write noticed. Verifying the
    // descriptor before each write (one fstat) closes it.
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(tracefs) = common::user_events("descriptor_dup2") else {
        return;
    };
    let (name, word, reg) = common::register_fresh("dsd", &[("s", FieldType::Str)]);
    let ours = cotrace_kernel::descriptor_status().unwrap().fd.unwrap();
    cotrace_kernel::verify_descriptor_before_each_write(true);

    let log_path = std::env::temp_dir().join(format!("{name}.log"));
    let log = std::fs::File::create(&log_path).unwrap();
    // SAFETY: replaces descriptor `ours` (cotrace's) with a copy of the log file: exactly what
    // an application that does not know about cotrace's descriptor might do.
    assert_eq!(unsafe { libc::dup2(log.as_raw_fd(), ours) }, ours);
    common::set_enabled(tracefs, &name, true);
    common::wait_kernel_bit(word, true);
    let outcome = reg.write(&[Value::Str("payload-of-the-trace")]);
    cotrace_kernel::verify_descriptor_before_each_write(false);

    assert!(
        read_all(&log_path).is_empty(),
        "the app's file at fd {ours} received trace bytes"
    );
    assert_eq!(outcome, Ok(WriteOutcome::Written));
    common::wait_trace_line(tracefs, &name, &["s=payload-of-the-trace"]);
    let status = cotrace_kernel::descriptor_status().unwrap();
    assert_ne!(status.fd, Some(ours), "{status:?}");
    common::set_enabled(tracefs, &name, false);
    common::wait_kernel_bit(word, false);
    // SAFETY: closes the log's copy at `ours`, which this test created.
    unsafe { libc::close(ours) };
    drop(log);
    let _ = std::fs::remove_file(&log_path);
}
