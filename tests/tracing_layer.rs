//! `cotrace::tracing::layer()`: `tracing` callsites as dynamic events, enabled per callsite by
//! LTTng (a private `lttng-sessiond`) and by ftrace (in the VM: `scripts/test.sh`'s facade step
//! runs this file there with `COTRACE_REQUIRE_USER_EVENTS=1`; elsewhere the kernel test prints
//! SKIPPED).

#[path = "../ust-side/tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing_subscriber::prelude::*;

const TRACEFS: &str = "/sys/kernel/tracing";

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn event(lttng_name: &str) -> &'static cotrace::Event {
    cotrace::events()
        .find(|e| e.desc().lttng_name() == lttng_name)
        .unwrap_or_else(|| panic!("{lttng_name} not defined"))
}

/// The instrumented code: an event in a span in a span, and an event nobody enables.
fn work(round: u64) {
    let outer = tracing::info_span!(target: "tl_app", "request", id = 7u64);
    let _o = outer.enter();
    let inner = tracing::debug_span!(target: "tl_app", "db", table = "users");
    let _i = inner.enter();
    tracing::info!(
        name: "checkout",
        target: "tl_app",
        user = "ann",
        items = 3u64,
        delta = -2i64,
        ratio = 2.5,
        ok = true,
        shape = ?(1, 2),
        round,
        "paid {}",
        "cash"
    );
    tracing::warn!(name: "skipped", target: "tl_app", n = 1u64);
}

#[test]
fn lttng_records_the_enabled_callsites_only() {
    common::isolated("lttng_records_the_enabled_callsites_only", || {
        let mut l = common::Lttng::start("tracing");
        l.create("s");
        for ev in [
            "checkout",
            "request_begin",
            "request_end",
            "db_begin",
            "db_end",
        ] {
            l.lttng(&[
                "enable-event",
                "--userspace",
                &format!("tl_app:{ev}"),
                "--session=s",
            ]);
        }
        l.lttng(&["start", "s"]);
        let child = common::HeldChild::start(&l, "lttng_child", "COTRACE_TRACING_CHILD");
        let listed = l.lttng(&["list", "--userspace"]);
        // Listed, with the level as the LTTng loglevel (`warn!` is TRACE_WARNING, a DEBUG
        // span TRACE_DEBUG).
        for (name, loglevel) in [
            ("tl_app:checkout", "TRACE_INFO"),
            ("tl_app:skipped", "TRACE_WARNING"),
            ("tl_app:request_begin", "TRACE_INFO"),
            ("tl_app:db_begin", "TRACE_DEBUG"),
        ] {
            let line = listed
                .lines()
                .find(|l| l.contains(&format!("{name} ")))
                .unwrap_or_else(|| panic!("{name} not listed:\n{listed}"));
            assert!(line.contains(&format!("{loglevel} (")), "{line}");
        }
        let text = child.release();
        l.lttng(&["stop", "s"]);
        let events = l.events("s");
        let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
        // The session was started before the app: each callsite is enabled as soon as it is
        // defined (its first use), so both rounds are recorded, in order, and nothing of
        // `skipped`.
        let round = [
            "tl_app:request_begin",
            "tl_app:db_begin",
            "tl_app:checkout",
            "tl_app:db_end",
            "tl_app:request_end",
        ];
        assert_eq!(names, [round, round].concat(), "{text}");
        assert_eq!(events[2].get("round"), "0");
        let events = &events[5..];
        let get = |i: usize, f: &str| events[i].get(f).to_string();
        let request_id = get(0, "span_id");
        assert_eq!(get(0, "parent_id"), "0");
        assert_eq!(get(0, "id"), "7");
        assert_eq!(get(1, "parent_id"), request_id, "db's parent is request");
        assert_eq!(get(1, "table"), "\"users\"");
        let c = &events[2];
        assert_eq!(
            c.order,
            [
                "message", "user", "items", "delta", "ratio", "ok", "shape", "round"
            ]
        );
        for (f, v) in [
            ("message", "\"paid cash\""),
            ("user", "\"ann\""),
            ("items", "3"),
            ("delta", "-2"),
            ("ratio", "2.5"),
            ("ok", "1"),
            ("shape", "\"(1, 2)\""),
            ("round", "1"),
        ] {
            assert_eq!(c.get(f), v, "{f}");
        }
        assert_eq!(get(3, "span_id"), get(1, "span_id"));
        assert_eq!(get(4, "span_id"), request_id);
    });
}

/// Not a test on its own: the traced app of `lttng_records_the_enabled_callsites_only`.
#[test]
#[ignore = "run by lttng_records_the_enabled_callsites_only in a child process"]
fn lttng_child() {
    let hold = std::env::var_os("COTRACE_TRACING_CHILD").expect("run by its parent test");
    tracing_subscriber::registry()
        .with(cotrace::tracing::layer())
        .init();
    work(0);
    let checkout = event("tl_app:checkout");
    let skipped = event("tl_app:skipped");
    wait_until("LTTng to enable tl_app:checkout", || checkout.is_enabled());
    // The poller tells `tracing` within 50 ms.
    std::thread::sleep(Duration::from_millis(300));
    assert!(!skipped.is_enabled());
    work(1);
    println!("{}", cotrace::status());
    println!("fired");
    wait_until("the parent's listing", || Path::new(&hold).exists());
}

/// LTTng's attach is seen at once by cotrace-ust, which wakes the layer's poller: a callsite
/// enabled by `lttng start` records even when the poller's period is an hour.
#[test]
fn an_lttng_attach_wakes_the_layer_without_waiting_for_its_period() {
    common::isolated(
        "an_lttng_attach_wakes_the_layer_without_waiting_for_its_period",
        || {
            let mut l = common::Lttng::start("tracing-notify");
            l.create("s");
            l.lttng(&["enable-event", "--userspace", "tl_notify:*", "--session=s"]);
            let child = common::HeldChild::start(&l, "notify_child", "COTRACE_NOTIFY_CHILD");
            l.lttng(&["start", "s"]);
            let text = child.release();
            assert!(text.contains("recorded after the attach"), "{text}");
        },
    );
}

fn notify_work() {
    tracing::info!(name: "ping", target: "tl_notify", n = 1u64);
}

/// Not a test on its own: the traced app of
/// `an_lttng_attach_wakes_the_layer_without_waiting_for_its_period`.
#[test]
#[ignore = "run by an_lttng_attach_wakes_the_layer_without_waiting_for_its_period"]
fn notify_child() {
    let hold = std::env::var_os("COTRACE_NOTIFY_CHILD").expect("run by its parent test");
    tracing_subscriber::registry()
        .with(cotrace::tracing::layer())
        .init();
    notify_work(); // defines the callsite (nobody enabled it)
    // The poller tells `tracing` that it is off, then sleeps for an hour.
    std::thread::sleep(Duration::from_millis(300));
    cotrace::tracing::set_poll_interval(Duration::from_secs(3600));
    std::thread::sleep(Duration::from_millis(200));
    notify_work();
    assert_eq!(cotrace::tracing::recorded(), 0, "recorded while off");
    println!("fired");
    wait_until("the parent's lttng start", || Path::new(&hold).exists());
    assert!(
        event("tl_notify:ping").is_enabled(),
        "lttng start left the word at 0"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while cotrace::tracing::recorded() == 0 {
        assert!(
            Instant::now() < deadline,
            "the callsite stayed off 10 s after LTTng attached (word {})",
            event("tl_notify:ping").snapshot()
        );
        notify_work();
        std::thread::sleep(Duration::from_millis(10));
    }
    println!("recorded after the attach");
}

/// Another layer keeps seeing what nobody enabled in cotrace (the callsite's `never` from the
/// cotrace filter is for cotrace's layer only).
#[test]
fn a_fmt_layer_alongside_keeps_working() {
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::registry()
        .with(cotrace::tracing::layer())
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(move || writer.clone()),
        );
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(name: "seen", target: "tl_fmt", n = 5u64, "hello fmt");
    });
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("hello fmt n=5"), "{text}");
    // And the callsite is a cotrace event all the same, with its mapped name, off.
    assert!(!event("tl_fmt:seen").is_enabled());
}

/// The interest `tracing` caches follows the word both ways: an in-process user count (what
/// LTTng's attach adds) turns the callsite on within the poller's period, and off again.
#[test]
fn a_word_change_reaches_the_callsite() {
    let subscriber = tracing_subscriber::registry().with(cotrace::tracing::layer());
    tracing::subscriber::with_default(subscriber, || {
        let hit = |round: u64| tracing::info!(name: "flip", target: "tl_word", round);
        hit(0);
        let flip = event("tl_word:flip");
        assert_eq!(flip.desc().fields[0].kind, cotrace::FieldKind::U64);
        let before = cotrace::tracing::recorded();
        std::thread::sleep(Duration::from_millis(200));
        hit(1);
        assert_eq!(
            cotrace::tracing::recorded(),
            before,
            "off: nothing recorded"
        );
        let guard = flip.word().acquire_user().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        hit(2);
        assert_eq!(cotrace::tracing::recorded(), before + 1, "on: recorded");
        drop(guard);
        std::thread::sleep(Duration::from_millis(300));
        hit(3);
        assert_eq!(cotrace::tracing::recorded(), before + 1, "off again");
    });
}

#[test]
fn names_map_to_valid_tracer_names() {
    let subscriber = tracing_subscriber::registry().with(cotrace::tracing::layer());
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(target: "tl_names::sub-mod", "default name");
    });
    let e = cotrace::events()
        .find(|e| e.desc().provider == "tl_names__sub_mod")
        .expect("defined");
    let line = line!() - 5;
    assert_eq!(
        e.desc().name,
        format!("event_tests_tracing_layer_rs_{line}"),
        "{:?}",
        e.desc()
    );
    assert_eq!(e.desc().fields[0].name, "message");
    let status = cotrace::status();
    let s = status
        .events
        .iter()
        .find(|s| s.kernel_name == e.desc().kernel_name)
        .unwrap();
    assert_eq!(s.lttng, cotrace::Registration::Registered);
}

/// The kernel half, in the VM: ftrace enables one callsite; it records, the other does not.
#[test]
fn ftrace_records_the_enabled_callsite_only() {
    if !common::user_events_or_skip(
        "ftrace_records_the_enabled_callsite_only",
        kernel_available(),
    ) {
        return;
    }
    let subscriber = tracing_subscriber::registry().with(cotrace::tracing::layer());
    tracing::subscriber::with_default(subscriber, || {
        let fire = |round: u64| {
            tracing::info!(name: "on", target: "tlk", round, user = "bob", "k");
            tracing::info!(name: "off", target: "tlk", round);
        };
        fire(0);
        std::fs::write(Path::new(TRACEFS).join("trace"), "").unwrap();
        let enable = Path::new(TRACEFS).join("events/user_events/tlk_on/enable");
        std::fs::write(&enable, "1").unwrap();
        let on = event("tlk:on");
        wait_until("ftrace to enable tlk_on", || on.is_enabled());
        std::thread::sleep(Duration::from_millis(300));
        fire(1);
        std::fs::write(&enable, "0").unwrap();
    });
    let trace = std::fs::read_to_string(Path::new(TRACEFS).join("trace")).unwrap();
    let lines: Vec<&str> = trace.lines().filter(|l| l.contains(": tlk_")).collect();
    assert_eq!(
        lines.len(),
        1,
        "{trace}\nrecorded: {}\n{}",
        cotrace::tracing::recorded(),
        cotrace::status()
    );
    // ftrace prints integers as `0x1 (1)`.
    assert!(
        lines[0].contains("tlk_on: message=k round=0x1 (1) user=bob"),
        "{}",
        lines[0]
    );
}

/// The example service (`examples/tracing_service.rs`, instrumented only with `tracing`) with
/// both tracers at once, in the VM: ftrace enables `svc:order_placed` alone, LTTng session
/// `one` enables `svc:payment` alone, session `all` enables `svc:*`. Each tracer records
/// exactly what it enabled, for orders 1..=N, with the values the service gave.
#[test]
fn example_service_with_both_tracers() {
    if !common::user_events_or_skip("example_service_with_both_tracers", kernel_available()) {
        return;
    }
    common::isolated("example_service_with_both_tracers", || {
        const ORDERS: u64 = 4;
        let example = common::target_profile_dir().join("examples/tracing_service");
        assert!(example.exists(), "{} not built", example.display());
        let mut l = common::Lttng::start("service");
        l.create("one");
        l.lttng(&[
            "enable-event",
            "--userspace",
            "svc:payment",
            "--session=one",
        ]);
        l.create("all");
        l.lttng(&["enable-event", "--userspace", "svc:*", "--session=all"]);
        l.lttng(&["start", "one"]);
        l.lttng(&["start", "all"]);
        std::fs::write(Path::new(TRACEFS).join("trace"), "").unwrap();
        let hold = l.dir.join("hold");
        let mut child = Command::new(&example)
            .args(["--orders", &ORDERS.to_string(), "--hold"])
            .arg(&hold)
            .args(["--wait-kernel", "svc:order_placed"])
            .args(["--wait-users", "svc:payment=2"])
            .env("LTTNG_HOME", l.home())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut text = String::new();
        let mut read_until = |prefix: &str, text: &mut String| {
            let mut line = String::new();
            while !line.starts_with(prefix) {
                line.clear();
                assert!(
                    out.read_line(&mut line).unwrap() > 0,
                    "service ended:\n{text}"
                );
                text.push_str(&line);
            }
        };
        read_until("defined", &mut text);
        let enable = Path::new(TRACEFS).join("events/user_events/svc_order_placed/enable");
        std::fs::write(&enable, "1").unwrap();
        read_until("done", &mut text);
        let trace = std::fs::read_to_string(Path::new(TRACEFS).join("trace")).unwrap();
        std::fs::write(&enable, "0").unwrap();
        std::fs::write(&hold, "").unwrap();
        assert!(child.wait().unwrap().success(), "service failed:\n{text}");
        l.lttng(&["stop", "one"]);
        l.lttng(&["stop", "all"]);

        // ftrace: order_placed of orders 1..=N, nothing else.
        let kernel: Vec<&str> = trace.lines().filter(|l| l.contains(": svc_")).collect();
        assert_eq!(kernel.len(), ORDERS as usize, "{trace}\n{text}");
        for (line, order) in kernel.iter().zip(1..) {
            assert!(
                line.contains(&format!(
                    "svc_order_placed: message=order {order} placed order_id=0x{order:x} ({order}) item=tea cents=0x1c2 (450)"
                )),
                "{line}"
            );
        }
        // The orders a session recorded for an event, by `order_id` (order 0 may be recorded:
        // sessions started before the service enable its callsites from their first use).
        let orders = |events: &[common::Event], name: &str| -> Vec<u64> {
            events
                .iter()
                .filter(|e| e.name == name)
                .map(|e| e.get("order_id").parse::<u64>().unwrap())
                .filter(|&o| o > 0)
                .collect()
        };
        let all_orders: Vec<u64> = (1..=ORDERS).collect();
        let one = l.events("one");
        assert!(one.iter().all(|e| e.name == "svc:payment"), "{one:?}");
        assert_eq!(orders(&one, "svc:payment"), all_orders);
        let all = l.events("all");
        for name in ["svc:handle_begin", "svc:order_placed", "svc:payment"] {
            assert_eq!(orders(&all, name), all_orders, "{name}");
        }
        let ends = all.iter().filter(|e| e.name == "svc:handle_end").count();
        assert!(ends as u64 >= ORDERS, "{ends} handle_end");
        let paid = all
            .iter()
            .filter(|e| e.name == "svc:payment" && e.get("order_id") == "2")
            .collect::<Vec<_>>();
        assert_eq!((paid[0].get("ok"), paid[0].get("ms")), ("1", "1.5"));
        let placed = all
            .iter()
            .find(|e| e.name == "svc:order_placed" && e.get("order_id") == "3")
            .unwrap();
        assert_eq!(
            (
                placed.get("message"),
                placed.get("item"),
                placed.get("cents")
            ),
            ("\"order 3 placed\"", "\"tea\"", "450")
        );
        // Each span's begin and end carry its id; a root span's parent is 0.
        let begin = all
            .iter()
            .find(|e| e.name == "svc:handle_begin" && e.get("order_id") == "3")
            .unwrap();
        assert_eq!(begin.get("parent_id"), "0");
        let id = begin.get("span_id");
        let after_begin = all
            .iter()
            .skip_while(|e| !std::ptr::eq(*e, begin))
            .find(|e| e.name == "svc:handle_end")
            .unwrap();
        assert_eq!(after_begin.get("span_id"), id);
    });
}

fn kernel_available() -> Result<(), String> {
    cotrace::cotrace_kernel::availability()
        .map(|_| ())
        .map_err(|e| e.to_string())
}
