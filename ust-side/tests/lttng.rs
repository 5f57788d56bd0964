//! cotrace-ust against a real `lttng-sessiond` (started and stopped by each test, in its own
//! mount namespace: see `common`), with the real `lttng` CLI and `babeltrace2`.

mod common;

use common::{Lttng, cases, isolated};

/// Start/stop/destroy of two sessions drive the word's user count 1, 2, 1, 0, while another
/// thread sets and clears bit 31 the whole time and never sees it lost.
///
/// With `synchronous` (the exact mode), each count must already be right when the `lttng`
/// command returns; otherwise (polling) it must become right within the harness's timeout.
fn refcount_scenario(name: &str, env: &[(&str, &str)], expect_mode: &str, synchronous: bool) {
    let mut lttng = Lttng::start(name);
    let mut app = lttng.app(env);
    let status = app.cmd("status");
    assert!(status.contains(expect_mode), "status: {status}");
    let expect = |app: &mut common::App, n: u32| {
        if synchronous {
            assert_eq!(
                app.users("counted"),
                n,
                "count right after the lttng command"
            );
            0
        } else {
            app.wait_users("counted", n)
        }
    };
    assert_eq!(app.users("counted"), 0);
    assert_eq!(app.cmd("flip on"), "flipping");

    lttng.create("s1");
    lttng.lttng(&["enable-event", "-u", "cotrace_test:counted", "-s", "s1"]);
    // Enabling alone attaches nothing: LTTng attaches at start.
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert_eq!(app.users("counted"), 0);
    lttng.lttng(&["start", "s1"]);
    let first = expect(&mut app, 1);

    lttng.create("s2");
    lttng.lttng(&["enable-event", "-u", "cotrace_test:counted", "-s", "s2"]);
    lttng.lttng(&["start", "s2"]);
    expect(&mut app, 2);
    // Other events of the provider were not enabled: their words stay 0.
    assert_eq!(app.users("all_types"), 0);

    lttng.lttng(&["stop", "s1"]);
    expect(&mut app, 1);
    app.cmd("fire_counted 0 10");

    lttng.lttng(&["destroy", "--all"]);
    expect(&mut app, 0);

    let flips = app.cmd("flip off");
    assert!(flips.ends_with("lost=0"), "{flips}");
    assert!(
        !flips.starts_with("flips=0 "),
        "the flipper never ran: {flips}"
    );
    let count = app.cmd("count counted");
    assert_eq!(count, "users=0 kernel=0 raw=0x0 attached=0", "{count}");
    assert!(app.quit());
    println!("{name}: first attach seen after {first} ms");
}

#[test]
fn refcount_follows_sessions_exactly() {
    isolated("refcount_follows_sessions_exactly", || {
        let exact = cfg!(any(target_arch = "x86_64", target_arch = "aarch64"));
        let mode = if exact {
            "refcount: exact"
        } else {
            "refcount: polling"
        };
        refcount_scenario("refcount_exact", &[], mode, exact);
    });
}

/// liblttng-ust loaded before cotrace-ust without `BIND_NOW` (here: preloaded, from a copy of
/// the system's library with `BIND_NOW`/`NOW` cleared and `GNU_RELRO` dropped, as a distribution
/// building without `-z now -z relro` would ship it): its GOT slot holds the PLT stub until the
/// first call. The counts must still follow every session, in the exact mode.
#[test]
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn refcount_exact_with_lazily_bound_liblttng_ust() {
    isolated("refcount_exact_with_lazily_bound_liblttng_ust", || {
        let dir = std::env::temp_dir().join(format!("cotrace-ust-lazy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let lazy = dir.join("liblttng-ust.so.1");
        lazy_copy(&liblttng_ust_in_use(), &lazy);
        refcount_scenario(
            "refcount_lazy",
            &[("LD_PRELOAD", lazy.to_str().unwrap())],
            "refcount: exact",
            true,
        );
        let _ = std::fs::remove_dir_all(&dir);
    });
}

/// The liblttng-ust.so.1 the test application loads: the first in `LD_LIBRARY_PATH` (a newer
/// LTTng built into a prefix, whose session daemon refuses the system's older library: its
/// LTTNG_UST_ABI_MAJOR_VERSION differs), else the system's (Debian's multiarch directory).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn liblttng_ust_in_use() -> std::path::PathBuf {
    let system = if cfg!(target_arch = "aarch64") {
        "/usr/lib/aarch64-linux-gnu/liblttng-ust.so.1"
    } else {
        "/usr/lib/x86_64-linux-gnu/liblttng-ust.so.1"
    };
    std::env::var("LD_LIBRARY_PATH")
        .unwrap_or_default()
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| std::path::Path::new(d).join("liblttng-ust.so.1"))
        .find(|p| p.exists())
        .unwrap_or_else(|| system.into())
}

/// Copies a little-endian 64-bit ELF shared object (x86_64, aarch64), clearing `DF_BIND_NOW` and `DF_1_NOW` in its dynamic
/// section and turning its `PT_GNU_RELRO` header into `PT_NULL` (a lazily bound GOT must stay
/// writable).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn lazy_copy(from: &std::path::Path, to: &std::path::Path) {
    let mut elf = std::fs::read(from).unwrap();
    let u16_at = |e: &[u8], o: usize| u16::from_le_bytes(e[o..o + 2].try_into().unwrap()) as usize;
    let u64_at = |e: &[u8], o: usize| u64::from_le_bytes(e[o..o + 8].try_into().unwrap());
    assert_eq!(&elf[..5], b"\x7fELF\x02", "not a 64-bit ELF");
    let (phoff, phentsize, phnum) = (
        u64_at(&elf, 0x20) as usize,
        u16_at(&elf, 0x36),
        u16_at(&elf, 0x38),
    );
    let (mut relro, mut cleared) = (false, 0);
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        let p_type = u32::from_le_bytes(elf[ph..ph + 4].try_into().unwrap());
        if p_type == 0x6474_e552 {
            elf[ph..ph + 4].copy_from_slice(&0u32.to_le_bytes());
            relro = true;
        }
        if p_type == 2 {
            let (off, size) = (
                u64_at(&elf, ph + 8) as usize,
                u64_at(&elf, ph + 32) as usize,
            );
            for d in (off..off + size).step_by(16) {
                let (tag, val) = (u64_at(&elf, d), u64_at(&elf, d + 8));
                let new = match tag {
                    30 => val & !0x8,          // DT_FLAGS: DF_BIND_NOW
                    0x6fff_fffb => val & !0x1, // DT_FLAGS_1: DF_1_NOW
                    24 => panic!("DT_BIND_NOW present: extend this helper"),
                    _ => continue,
                };
                elf[d + 8..d + 16].copy_from_slice(&new.to_le_bytes());
                cleared += 1;
            }
        }
    }
    // A library built without `-z now` (as scripts/build-lttng.sh builds newer LTTng versions)
    // has no flag to clear: it is lazily bound already, and copied as it is.
    println!(
        "{}: RELRO {}, {cleared} BIND_NOW flag(s) cleared",
        from.display(),
        if relro { "dropped" } else { "absent" }
    );
    std::fs::write(to, elf).unwrap();
}

#[test]
fn refcount_follows_sessions_polling_fallback() {
    isolated("refcount_follows_sessions_polling_fallback", || {
        refcount_scenario(
            "refcount_poll",
            &[("COTRACE_UST_REFCOUNT", "poll")],
            "refcount: polling every 10 ms (forced by COTRACE_UST_REFCOUNT=poll)",
            false,
        );
    });
}

#[test]
fn every_field_type_round_trips_through_babeltrace2() {
    isolated("every_field_type_round_trips_through_babeltrace2", || {
        let mut lttng = Lttng::start("roundtrip");
        lttng.create("rt");
        lttng.lttng(&["enable-event", "-u", "cotrace_test:all_types", "-s", "rt"]);
        lttng.lttng(&["start", "rt"]);
        let mut app = lttng.app(&[]);
        app.wait_users("all_types", 1);
        assert_eq!(app.cmd("fire_table"), "fired errors=0 enabled=true");
        assert!(app.quit());
        lttng.lttng(&["stop", "rt"]);
        let events = lttng.events("rt");
        let rows = cases::rows();
        assert_eq!(events.len(), rows.len(), "{events:#?}");
        for (event, row) in events.iter().zip(&rows) {
            assert_eq!(event.name, "cotrace_test:all_types");
            let names: Vec<&str> = row.expected.iter().map(|(n, _)| *n).collect();
            assert_eq!(event.order, names, "field names and order");
            for (field, text) in row.expected {
                assert_eq!(event.get(field), *text, "field {field} of {event:?}");
            }
        }
    });
}

#[test]
fn filters_on_integer_and_string_fields() {
    isolated("filters_on_integer_and_string_fields", || {
        let mut lttng = Lttng::start("filter");
        lttng.create("fint");
        lttng.lttng(&[
            "enable-event",
            "-u",
            "cotrace_test:counted",
            "-s",
            "fint",
            "--filter",
            "n > 5",
        ]);
        lttng.create("fenum");
        lttng.lttng(&[
            "enable-event",
            "-u",
            "cotrace_test:all_types",
            "-s",
            "fenum",
            "--filter",
            "a_enum < 0",
        ]);
        lttng.create("fstr");
        lttng.lttng(&[
            "enable-event",
            "-u",
            "cotrace_test:counted",
            "-s",
            "fstr",
            "--filter",
            "s == \"keep\"",
        ]);
        lttng.lttng(&["start", "fint"]);
        lttng.lttng(&["start", "fstr"]);
        lttng.lttng(&["start", "fenum"]);
        let mut app = lttng.app(&[]);
        app.wait_users("counted", 2);
        app.wait_users("all_types", 1);
        app.cmd("fire_counted 0 10");
        app.cmd("fire_table");
        assert!(app.quit());
        lttng.lttng(&["stop", "fint"]);
        lttng.lttng(&["stop", "fstr"]);
        lttng.lttng(&["stop", "fenum"]);
        // The enumeration filters as its integer value: only row 2 (-3) passes.
        let rows: Vec<String> = lttng
            .events("fenum")
            .iter()
            .map(|e| e.get("row").to_string())
            .collect();
        assert_eq!(rows, ["2"]);
        let ns = |session: &str| -> Vec<String> {
            lttng
                .events(session)
                .iter()
                .map(|e| format!("{}:{}", e.get("n"), e.get("s")))
                .collect()
        };
        assert_eq!(
            ns("fint"),
            ["6:\"keep\"", "7:\"drop\"", "8:\"keep\"", "9:\"drop\""]
        );
        assert_eq!(
            ns("fstr"),
            [
                "0:\"keep\"",
                "2:\"keep\"",
                "4:\"keep\"",
                "6:\"keep\"",
                "8:\"keep\""
            ]
        );
    });
}

#[test]
fn loglevel_selects_events() {
    isolated("loglevel_selects_events", || {
        let mut lttng = Lttng::start("loglevel");
        lttng.create("ll");
        lttng.lttng(&[
            "enable-event",
            "-u",
            "cotrace_test:lvl_*",
            "-s",
            "ll",
            "--loglevel=INFO",
        ]);
        lttng.lttng(&["start", "ll"]);
        let mut app = lttng.app(&[]);
        app.wait_users("lvl_info", 1);
        // Below the threshold: never attached, so its word stays 0.
        assert_eq!(app.users("lvl_debug"), 0);
        app.cmd("fire_levels 7");
        assert!(app.quit());
        lttng.lttng(&["stop", "ll"]);
        let names: Vec<String> = lttng.events("ll").into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["cotrace_test:lvl_info"]);
    });
}

#[test]
fn lttng_list_shows_events_and_fields() {
    isolated("lttng_list_shows_events_and_fields", || {
        let mut lttng = Lttng::start("list");
        let app = lttng.app(&[]);
        // The machine interface: 2.15 turned the human output into a bulleted tree.
        let events = lttng.app_events();
        let find = |name: &str| {
            events
                .iter()
                .find(|e| e.name == name && e.pid == app.pid)
                .unwrap_or_else(|| panic!("{name} of pid {} not listed: {events:#?}", app.pid))
        };
        for (event, loglevel) in [
            ("cotrace_test:all_types", "TRACE_INFO"),
            ("cotrace_test:counted", "TRACE_NOTICE"),
            ("cotrace_test:lvl_debug", "TRACE_DEBUG"),
        ] {
            assert_eq!(find(event).loglevel, loglevel, "{event}");
        }
        let field = |event: &str, field: &str| {
            let e = find(event);
            e.fields
                .iter()
                .find(|(name, _)| name == field)
                .map(|(_, ty)| ty.clone())
                .unwrap_or_else(|| panic!("no field {field} in {e:?}"))
        };
        for (event, name, ty) in [
            ("cotrace_test:all_types", "a_i64", "INTEGER"),
            ("cotrace_test:all_types", "a_f64", "FLOAT"),
            ("cotrace_test:all_types", "a_str", "STRING"),
            ("cotrace_test:all_types", "a_enum", "ENUM"),
            ("cotrace_test:counted", "s", "STRING"),
        ] {
            assert_eq!(field(event, name), ty, "{event}.{name}");
        }
        assert!(app.quit());
    });
}

#[test]
fn trigger_fires_and_counts() {
    isolated("trigger_fires_and_counts", || {
        let mut lttng = Lttng::start("trigger");
        lttng.create("trg");
        lttng.lttng(&["enable-event", "-u", "cotrace_test:counted", "-s", "trg"]);
        let mut app = lttng.app(&[]);
        assert_eq!(app.users("trigger_ev"), 0);
        lttng.lttng(&[
            "add-trigger",
            "--name=cotrace_t1",
            "--condition=event-rule-matches",
            "--type=user",
            "--name=cotrace_test:trigger_ev",
            "--filter=code == 42",
            "--action=start-session",
            "trg",
        ]);
        // A trigger attaches the event's probe like a session does.
        app.wait_users("trigger_ev", 1);
        assert!(!lttng.session_active("trg"));
        // Filtered out: the session stays inactive.
        app.cmd("fire_trigger 7");
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(!lttng.session_active("trg"));
        app.cmd("fire_trigger 42");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !lttng.session_active("trg") {
            assert!(
                std::time::Instant::now() < deadline,
                "the trigger never started the session"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        lttng.lttng(&["remove-trigger", "cotrace_t1"]);
        app.wait_users("trigger_ev", 0);
        assert!(app.quit());
    });
}

#[test]
fn forked_child_is_traced_without_preload() {
    isolated("forked_child_is_traced_without_preload", || {
        fork_scenario("fork", &[], "fork: hooks installed");
    });
}

/// With LTTng-UST's own fork wrapper preloaded, cotrace-ust leaves LTTng's fork hooks to it
/// (calling them twice would deadlock) and the child is still traced.
#[test]
fn forked_child_is_traced_with_lttng_fork_preload() {
    isolated("forked_child_is_traced_with_lttng_fork_preload", || {
        fork_scenario(
            "forkpre",
            &[("LD_PRELOAD", "liblttng-ust-fork.so")],
            "fork: liblttng-ust-fork.so preloaded (it calls LTTng's fork hooks",
        );
    });
}

/// In the polling mode the reconciler thread does not survive `fork`; the child starts its own
/// (the child waits for its word's count before firing, so nothing is traced without it).
#[test]
fn forked_child_is_traced_in_polling_mode() {
    isolated("forked_child_is_traced_in_polling_mode", || {
        fork_scenario(
            "forkpoll",
            &[("COTRACE_UST_REFCOUNT", "poll")],
            "fork: hooks installed",
        );
    });
}

/// With LTTng-UST's fork wrapper preloaded and the polling mode, the child still gets its own
/// reconciler: a session started after the fork reaches the child's count (the child waits for
/// it, then fires).
#[test]
fn forked_child_reconciles_in_polling_mode_with_lttng_fork_preload() {
    isolated(
        "forked_child_reconciles_in_polling_mode_with_lttng_fork_preload",
        || {
            let mut lttng = Lttng::start("forkprepoll");
            lttng.create("fk");
            lttng.lttng(&["enable-channel", "-u", "--buffers-pid", "-s", "fk", "ch"]);
            lttng.lttng(&[
                "enable-event",
                "-u",
                "cotrace_test:counted",
                "-s",
                "fk",
                "-c",
                "ch",
            ]);
            let mut app = lttng.app(&[
                ("LD_PRELOAD", "liblttng-ust-fork.so"),
                ("COTRACE_UST_REFCOUNT", "poll"),
            ]);
            let status = app.cmd("status");
            assert!(
                status.contains("fork: liblttng-ust-fork.so preloaded"),
                "{status}"
            );
            assert!(status.contains("refcount: polling"), "{status}");
            // The child fires once its count followed the session and the daemon lists it
            // (then the session records there; see `Lttng::wait_registered`).
            let go = lttng.dir.join("go");
            let reply = app.cmd(&format!("fork_bg 3 {}", go.display()));
            let child_pid: u32 = reply
                .strip_prefix("child pid=")
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("fork_bg: {reply}"));
            lttng.lttng(&["start", "fk"]);
            app.wait_users("counted", 1);
            lttng.wait_registered(&[child_pid]);
            std::fs::write(&go, "").unwrap();
            let reply = app.cmd("reap");
            assert!(
                reply.ends_with("exit=0"),
                "the child's count never followed its session: {reply}"
            );
            assert!(app.quit());
            lttng.lttng(&["stop", "fk"]);
            let from_child = lttng
                .events("fk")
                .iter()
                .filter(|e| e.get("s") == "\"child\"")
                .count();
            assert_eq!(from_child, 3);
        },
    );
}

fn fork_scenario(name: &str, env: &[(&str, &str)], expect_fork: &str) {
    {
        let mut lttng = Lttng::start(name);
        lttng.create("fk");
        // Per-process buffers: a child that did not register with the session daemon itself
        // (no fork hooks) could only write into its parent's inherited buffers, and would have
        // no trace directory of its own.
        lttng.lttng(&["enable-channel", "-u", "--buffers-pid", "-s", "fk", "ch"]);
        lttng.lttng(&[
            "enable-event",
            "-u",
            "cotrace_test:counted",
            "-s",
            "fk",
            "-c",
            "ch",
        ]);
        lttng.lttng(&["add-context", "-u", "-t", "vpid", "-s", "fk", "-c", "ch"]);
        lttng.lttng(&["start", "fk"]);
        let mut app = lttng.app(env);
        let status = app.cmd("status");
        assert!(status.contains(expect_fork), "{status}");
        app.wait_users("counted", 1);
        // The child registers with the daemon on its own (LTTng's fork hook waits for that at
        // most LTTNG_UST_REGISTER_TIMEOUT, 3 s, which TCG on a loaded machine can exceed) and
        // fires once the daemon lists it: then its session records (`Lttng::wait_registered`).
        let go = lttng.dir.join("go");
        let reply = app.cmd(&format!("fork_bg 3 {}", go.display()));
        let child_pid: String = reply
            .strip_prefix("child pid=")
            .unwrap_or_else(|| panic!("fork_bg: {reply}"))
            .to_string();
        lttng.wait_registered(&[child_pid.parse().unwrap()]);
        std::fs::write(&go, "").unwrap();
        let reply = app.cmd("reap");
        assert!(reply.ends_with("exit=0"), "child: {reply}");
        // The parent's count is untouched by the child's reset.
        assert_eq!(app.users("counted"), 1);
        let parent_pid = app.pid.to_string();
        assert!(app.quit());
        lttng.lttng(&["stop", "fk"]);
        let events = lttng.events("fk");
        let from = |who: &str| -> Vec<(String, String)> {
            events
                .iter()
                .filter(|e| e.get("s") == format!("\"{who}\""))
                .map(|e| (e.get("vpid").to_string(), e.get("n").to_string()))
                .collect()
        };
        assert_eq!(
            from("child"),
            [
                (child_pid.clone(), "1000".to_string()),
                (child_pid.clone(), "1001".to_string()),
                (child_pid.clone(), "1002".to_string())
            ],
            "{events:#?}"
        );
        assert_eq!(from("parent"), [(parent_pid, "1".to_string())]);
        // The child's events are in the child's own buffers.
        let pid_dir = lttng.trace_dir("fk").join("ust/pid");
        let child_dir = std::fs::read_dir(&pid_dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                name.contains(&format!("-{child_pid}-"))
            })
            .unwrap_or_else(|| {
                panic!("no per-process trace of the child {child_pid} in {pid_dir:?}")
            });
        let in_child_dir: Vec<String> = common::read_trace(&child_dir)
            .iter()
            .map(|e| e.get("s").to_string())
            .collect();
        assert_eq!(in_child_dir, ["\"child\""; 3]);
    }
}

#[test]
fn without_sessiond_the_app_runs_and_words_stay_zero() {
    isolated("without_sessiond_the_app_runs_and_words_stay_zero", || {
        let lttng = Lttng::without_sessiond("nosessiond");
        let mut app = lttng.app(&[]);
        assert!(app.cmd("status").contains("LTTng-UST: loaded"));
        assert_eq!(app.cmd("fire_counted 0 100"), "fired enabled=false");
        assert_eq!(
            app.cmd("count counted"),
            "users=0 kernel=0 raw=0x0 attached=0"
        );
        assert!(app.quit());
    });
}

#[test]
fn without_liblttng_ust_the_app_runs_and_reports_unavailable() {
    isolated(
        "without_liblttng_ust_the_app_runs_and_reports_unavailable",
        || {
            let mut lttng = Lttng::start("nolib");
            lttng.create("nl");
            lttng.lttng(&["enable-event", "-u", "-a", "-s", "nl"]);
            lttng.lttng(&["start", "nl"]);
            let mut app = lttng.app(&[("COTRACE_UST_LIBRARY", "liblttng-ust-absent.so.1")]);
            let status = app.cmd("status");
            assert!(
                status.starts_with("LTTng-UST: unavailable (cannot load liblttng-ust-absent.so.1"),
                "{status}"
            );
            assert!(status.contains("refcount: inactive"), "{status}");
            assert_eq!(app.cmd("fire_table"), "fired errors=0 enabled=false");
            assert_eq!(
                app.cmd("count counted"),
                "users=0 kernel=0 raw=0x0 attached=0"
            );
            assert!(app.quit());
            lttng.lttng(&["stop", "nl"]);
            assert!(lttng.events("nl").is_empty());
        },
    );
}

#[test]
fn sessiond_killed_mid_run_counts_return_to_zero() {
    isolated("sessiond_killed_mid_run_counts_return_to_zero", || {
        let mut lttng = Lttng::start("killed");
        lttng.create("k");
        lttng.lttng(&["enable-event", "-u", "cotrace_test:counted", "-s", "k"]);
        lttng.lttng(&["start", "k"]);
        let mut app = lttng.app(&[]);
        app.wait_users("counted", 1);
        app.cmd("fire_counted 0 10");
        lttng.kill_sessiond();
        app.wait_users("counted", 0);
        // Still running, still answering, events off.
        assert_eq!(app.cmd("fire_counted 0 10"), "fired enabled=false");
        assert!(app.cmd("status").contains("LTTng-UST: loaded"));
        assert!(app.quit());
    });
}

#[test]
fn concurrent_fires_while_sessions_come_and_go() {
    isolated("concurrent_fires_while_sessions_come_and_go", || {
        let mut lttng = Lttng::start("churn");
        let mut app = lttng.app(&[]);
        assert_eq!(app.cmd("fire_bg on"), "firing");
        assert_eq!(app.cmd("flip on"), "flipping");
        for round in 0..4 {
            let s = format!("c{round}");
            lttng.create(&s);
            lttng.lttng(&["enable-event", "-u", "cotrace_test:counted", "-s", &s]);
            lttng.lttng(&["start", &s]);
            app.wait_users("counted", 1);
            std::thread::sleep(std::time::Duration::from_millis(20));
            lttng.lttng(&["stop", &s]);
            app.wait_users("counted", 0);
            if round == 0 {
                let events = lttng.events(&s);
                assert!(
                    events.iter().any(|e| e.get("s") == "\"bg\""),
                    "no event recorded while the session ran"
                );
            }
            lttng.lttng(&["destroy", &s]);
        }
        assert!(app.cmd("flip off").ends_with("lost=0"));
        let fired = app.cmd("fire_bg off");
        assert!(fired.starts_with("fired=") && fired != "fired=0", "{fired}");
        assert_eq!(
            app.cmd("count counted"),
            "users=0 kernel=0 raw=0x0 attached=0"
        );
        assert!(app.quit());
    });
}
