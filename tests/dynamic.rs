//! Events defined at run time (`cotrace::dynamic`): name rules with typed errors, the registry
//! and status they share with `provider!` events, and recording by each tracer:
//! LTTng against a private `lttng-sessiond` (the harness of cotrace-ust's tests), user_events
//! in the VM (`scripts/test.sh`'s facade step runs this file there with
//! `COTRACE_REQUIRE_USER_EVENTS=1`; on a host without user_events the kernel test prints
//! SKIPPED).

#[path = "../ust-side/tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use cotrace::dynamic::EventBuilder;
use cotrace::{DynamicError, FieldKind, Level, NameRule, Registration, Value};

cotrace::provider! {
    /// Declared events sharing a provider name with events defined at run time.
    pub mod dyn_test {
        /// Declared.
        fn declared(n: u32);
    }
}

const TRACEFS: &str = "/sys/kernel/tracing";

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn name_error(builder: EventBuilder) -> (NameRule, String) {
    match builder.register() {
        Err(DynamicError::Name { rule, message }) => (rule, message),
        other => panic!("expected a name error, got {other:?}"),
    }
}

#[test]
fn names_are_checked_with_the_provider_rules_and_typed_errors() {
    // The rules and messages of provider!'s compile errors (tests/ui), now at run time.
    let (rule, message) = name_error(EventBuilder::new("app", "hidden").field("_r", FieldKind::U8));
    assert_eq!(rule, NameRule::FieldUnderscore { index: 0 });
    assert_eq!(
        message,
        "cotrace: event `app::hidden`: field `_r` starts with `_`: LTTng refuses such field \
         names (it names the hidden length of a `&[u8]` field `_<name>_length`)"
    );
    let (rule, message) = name_error(EventBuilder::new("app", "größe"));
    assert_eq!(rule, NameRule::EventCharacters);
    assert!(message.contains("`größe` is not ASCII"), "{message}");
    let (rule, message) = name_error(EventBuilder::new("my-app", "x"));
    assert_eq!(rule, NameRule::ProviderCharacters);
    assert!(message.contains("other than ASCII letters"), "{message}");
    assert_eq!(
        name_error(EventBuilder::new("", "x")).0,
        NameRule::ProviderStart
    );
    assert_eq!(
        name_error(EventBuilder::new("app", "1x")).0,
        NameRule::EventStart
    );
    assert_eq!(
        name_error(
            EventBuilder::new("app", "f")
                .field("a", FieldKind::U8)
                .field("a", FieldKind::U16)
        )
        .0,
        NameRule::FieldTwice { index: 1 }
    );
    assert_eq!(
        name_error(EventBuilder::new("app", "c").field("common_pid", FieldKind::U32)).0,
        NameRule::FieldCommonPrefix { index: 0 }
    );
    let many = (0..33).fold(EventBuilder::new("app", "many"), |b, i| {
        b.field(format!("f{i}"), FieldKind::U8)
    });
    assert_eq!(name_error(many).0, NameRule::TooManyFields { count: 33 });
    let long = EventBuilder::new("app", "e".repeat(252));
    assert_eq!(name_error(long).0, NameRule::NameTooLong { len: 256 });

    // A name the program already has: the declared event itself is handed back.
    match EventBuilder::new("dyn_test", "declared").register() {
        Err(DynamicError::AlreadyDefined { existing }) => {
            assert!(core::ptr::eq(existing, dyn_test::declared.event()))
        }
        other => panic!("{other:?}"),
    }
    // Two names user_events would merge.
    let first = EventBuilder::new("dyn_k", "a_b").register().unwrap();
    match EventBuilder::new("dyn_k_a", "b").register() {
        Err(e @ DynamicError::KernelNameTaken { existing }) => {
            assert!(core::ptr::eq(existing, first));
            assert!(e.to_string().contains("dyn_k_a_b"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    // Refused definitions left nothing in the registry.
    assert!(!cotrace::events().any(|e| e.desc().provider == "dyn_k_a"));
}

#[test]
fn a_defined_event_is_in_the_registry_and_status_like_a_declared_one() {
    let before = EventBuilder::new("dyn_status", "before_init")
        .level(Level::Warn)
        .field("n", FieldKind::U64)
        .register()
        .unwrap();
    assert!(cotrace::events().any(|e| core::ptr::eq(e, before)));
    let status = cotrace::init();
    let after = EventBuilder::new("dyn_status", "after_init")
        .field("s", FieldKind::Str)
        .register()
        .unwrap();
    let status_after = cotrace::status();
    for (status, name) in [
        (&status, "dyn_status:before_init"),
        (&status_after, "dyn_status:after_init"),
    ] {
        let e = status
            .events
            .iter()
            .find(|e| e.lttng_name == name)
            .unwrap_or_else(|| panic!("{name} not in status:\n{status}"));
        // Registered with LTTng (installed wherever these tests run), before or after init.
        assert_eq!(e.lttng, Registration::Registered, "{name}\n{status}");
        let kernel_ok = cotrace::cotrace_kernel::availability().is_ok();
        assert_eq!(
            e.kernel == Registration::Registered,
            kernel_ok,
            "{name}: {:?}",
            e.kernel
        );
    }
    let e = status
        .events
        .iter()
        .find(|e| e.lttng_name == "dyn_status:before_init")
        .unwrap();
    assert_eq!(
        (e.kernel_name, e.level),
        ("dyn_status_before_init", Level::Warn)
    );
    assert_eq!(after.desc().fields[0].kind, FieldKind::Str);
    // Nobody enabled them: firing is a no-op, even with wrong values (checked only when on).
    assert!(!after.is_enabled());
    assert_eq!(after.fire(&[Value::U8(1), Value::U8(2)]), Ok(()));
}

/// Threads racing to define one name: exactly one defines it, the others get that event back;
/// the registry lists it once.
#[test]
fn racing_definitions_define_once() {
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    EventBuilder::new("dyn_race", "once")
                        .field("n", FieldKind::U32)
                        .register()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let defined: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(defined.len(), 1, "{results:?}");
    for r in &results {
        match r {
            Ok(e) => assert!(core::ptr::eq(*e, *defined[0])),
            Err(DynamicError::AlreadyDefined { existing }) => {
                assert!(core::ptr::eq(*existing, *defined[0]))
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(
        cotrace::events()
            .filter(|e| e.desc().provider == "dyn_race")
            .count(),
        1
    );
}

/// The LTTng half: a session enabling `dyn_test:*` is started before the app; the app (the
/// `lttng_child` below) defines `dyn_test:early` before `init`, `dyn_test:late` after it (one
/// more probe descriptor of provider `dyn_test`, next to the declared `dyn_test:declared`), and
/// `dyn_other:off`, which the session does not enable.
#[test]
fn lttng_records_defined_events_with_typed_values() {
    common::isolated("lttng_records_defined_events_with_typed_values", || {
        let mut l = common::Lttng::start("dynamic");
        l.create("s");
        l.lttng(&["enable-event", "--userspace", "dyn_test:*", "--session=s"]);
        l.lttng(&["start", "s"]);
        let child = common::HeldChild::start(&l, "lttng_child", "COTRACE_DYNAMIC_CHILD");
        // Defined after init, listed by the session daemon with the declared event (read
        // through `lttng --mi xml`: 2.15's human output quotes the names).
        let listed: Vec<String> = l.app_events().into_iter().map(|e| e.name).collect();
        for name in [
            "dyn_test:declared",
            "dyn_test:early",
            "dyn_test:late",
            "dyn_other:off",
        ] {
            assert!(listed.iter().any(|n| n == name), "{name}: {listed:?}");
        }
        let text = child.release();
        l.lttng(&["stop", "s"]);
        let events = l.events("s");
        let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            ["dyn_test:declared", "dyn_test:early", "dyn_test:late"],
            "{text}"
        );
        let early = &events[1];
        assert_eq!((early.get("n"), early.get("s")), ("7", "\"hello\""));
        let late = &events[2];
        assert_eq!(late.order, ["x", "f", "b", "_bytes_length", "bytes"]);
        assert_eq!(
            (late.get("x"), late.get("f"), late.get("b")),
            ("-5", "2.5", "1")
        );
        assert_eq!(events[0].get("n"), "3");
    });
}

/// Not a test on its own: the traced app of `lttng_records_defined_events_with_typed_values`.
#[test]
#[ignore = "run by lttng_records_defined_events_with_typed_values in a child process"]
fn lttng_child() {
    let hold = std::env::var_os("COTRACE_DYNAMIC_CHILD").expect("run by its parent test");
    let early = EventBuilder::new("dyn_test", "early")
        .field("n", FieldKind::U32)
        .field("s", FieldKind::Str)
        .register()
        .unwrap();
    let status = cotrace::init();
    let late = EventBuilder::new("dyn_test", "late")
        .level(Level::Error)
        .field("x", FieldKind::I64)
        .field("f", FieldKind::F64)
        .field("b", FieldKind::Bool)
        .field("bytes", FieldKind::Bytes)
        .register()
        .unwrap();
    let off = EventBuilder::new("dyn_other", "off")
        .field("n", FieldKind::U32)
        .register()
        .unwrap();
    println!("{status}{}", cotrace::status());
    wait_until("LTTng to enable the events", || {
        early.is_enabled() && late.is_enabled() && dyn_test::declared.is_enabled()
    });
    assert!(!off.is_enabled());
    cotrace::fire!(dyn_test::declared(3));
    early.fire(&[Value::U32(7), Value::Str("hello")]).unwrap();
    // Wrong values are refused while enabled, and nothing is recorded.
    assert_eq!(
        late.fire(&[Value::I64(1)]),
        Err(cotrace::FireError::Count {
            expected: 4,
            given: 1
        })
    );
    assert!(matches!(
        late.fire(&[
            Value::U64(1),
            Value::F64(0.0),
            Value::Bool(true),
            Value::Bytes(b"")
        ]),
        Err(cotrace::FireError::Kind { index: 0, .. })
    ));
    late.fire(&[
        Value::I64(-5),
        Value::F64(2.5),
        Value::Bool(true),
        Value::Bytes(b"\x01\x02"),
    ])
    .unwrap();
    off.fire(&[Value::U32(9)]).unwrap();
    println!("fired");
    // The parent lists the events while this process is alive.
    wait_until("the parent's listing", || Path::new(&hold).exists());
}

/// The kernel half, in the VM: an event defined after `init` is registered with user_events at
/// once, listed by `user_events_status`, enabled by ftrace alone, and records typed values; an
/// event ftrace did not enable records nothing.
#[test]
fn kernel_records_defined_events() {
    if !common::user_events_or_skip("kernel_records_defined_events", kernel_available()) {
        return;
    }
    cotrace::init();
    let on = EventBuilder::new("dynk", "on")
        .field("n", FieldKind::U32)
        .field("s", FieldKind::Str)
        .field("i", FieldKind::I16)
        .register()
        .unwrap();
    let off = EventBuilder::new("dynk", "off")
        .field("n", FieldKind::U32)
        .register()
        .unwrap();
    let status = cotrace::status();
    let listed = std::fs::read_to_string(Path::new(TRACEFS).join("user_events_status")).unwrap();
    for name in ["dynk_on", "dynk_off"] {
        assert!(
            listed
                .lines()
                .any(|l| l.split_whitespace().next() == Some(name)),
            "{name}:\n{listed}"
        );
        let e = status
            .events
            .iter()
            .find(|e| e.kernel_name == name)
            .unwrap();
        assert_eq!(e.kernel, Registration::Registered, "{status}");
    }
    std::fs::write(Path::new(TRACEFS).join("trace"), "").unwrap();
    let enable = Path::new(TRACEFS).join("events/user_events/dynk_on/enable");
    std::fs::write(&enable, "1").unwrap();
    wait_until("ftrace to enable dynk_on", || on.is_enabled());
    assert!(on.snapshot().kernel_enabled() && !off.is_enabled());
    on.fire(&[Value::U32(7), Value::Str("hi"), Value::I16(-2)])
        .unwrap();
    off.fire(&[Value::U32(8)]).unwrap();
    std::fs::write(&enable, "0").unwrap();
    let trace = std::fs::read_to_string(Path::new(TRACEFS).join("trace")).unwrap();
    let lines: Vec<&str> = trace.lines().filter(|l| l.contains(": dynk_")).collect();
    assert_eq!(lines.len(), 1, "{trace}");
    assert!(
        lines[0].contains("dynk_on: n=0x7 (7) s=hi i="),
        "{}",
        lines[0]
    );
}

/// The kernel half, in the VM: an event defined on a thread that started before `init` and has
/// exited since keeps following ftrace. The kernel drops a thread group's registrations with its
/// last thread; cotrace's registrar thread holds them too.
#[test]
fn kernel_keeps_an_event_defined_on_a_thread_that_exited() {
    const NAME: &str = "kernel_keeps_an_event_defined_on_a_thread_that_exited";
    if !common::user_events_or_skip(NAME, kernel_available()) {
        return;
    }
    common::isolated(NAME, || {
        let (go, ready) = std::sync::mpsc::channel::<()>();
        // Started before any registration: not in the group `init` starts.
        let worker = std::thread::spawn(move || {
            ready.recv().unwrap();
            EventBuilder::new("dynk", "from_worker")
                .field("n", FieldKind::U32)
                .register()
                .unwrap()
        });
        cotrace::init();
        go.send(()).unwrap();
        let event = worker.join().unwrap();
        std::fs::write(Path::new(TRACEFS).join("trace"), "").unwrap();
        let enable = Path::new(TRACEFS).join("events/user_events/dynk_from_worker/enable");
        std::fs::write(&enable, "1").unwrap();
        wait_until("ftrace to enable dynk_from_worker", || event.is_enabled());
        event.fire(&[Value::U32(5)]).unwrap();
        std::fs::write(&enable, "0").unwrap();
        let trace = std::fs::read_to_string(Path::new(TRACEFS).join("trace")).unwrap();
        assert!(
            trace
                .lines()
                .any(|l| l.contains("dynk_from_worker: n=0x5 (5)")),
            "{trace}"
        );
    });
}

fn kernel_available() -> Result<(), String> {
    cotrace::cotrace_kernel::availability()
        .map(|_| ())
        .map_err(|e| e.to_string())
}
