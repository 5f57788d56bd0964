//! Registration lifetime and every kernel refusal: EADDRINUSE (same word twice, same name with
//! other fields), EINVAL, EPERM (PERSIST without CAP_PERFMON), EACCES (no permission), DEL with
//! EBUSY/ENOENT, MULTI_FORMAT; dyn_test.c `matching`, ftrace_test.c `register_events`.
//! Needs user_events: scripts/test-kernel.sh runs it in the VM.

mod common;

use std::process::Command;

use cotrace_kernel::{
    Errno, Error, EventFormat, FieldType, Op, RegisterOptions, Unavailable, Value, WriteOutcome,
    delete, register, register_with,
};

fn u32_format(name: &str, field: &str) -> EventFormat {
    EventFormat::new(name)
        .unwrap()
        .field(field, FieldType::U32)
        .unwrap()
}

#[test]
fn same_word_twice_is_word_in_use() {
    let Some(_) = common::user_events("word_in_use") else {
        return;
    };
    let word = common::leak_word();
    let a = common::unique("lc_word_a");
    let b = common::unique("lc_word_b");
    let _reg = register(word, u32_format(&a, "x")).unwrap();
    let e = register(word, u32_format(&b, "x")).unwrap_err();
    assert_eq!(e, Error::WordInUse);
    assert_eq!(e.errno(), Some(Errno::ADDRINUSE));
    assert!(e.to_string().contains("already registered"), "{e}");
}

#[test]
fn same_format_twice_shares_the_write_index() {
    // ftrace_test.c register_events: "Multiple registers should result in same index".
    let Some(tracefs) = common::user_events("same_index") else {
        return;
    };
    let name = common::unique("lc_same");
    let (w1, w2) = (common::leak_word(), common::leak_word());
    let r1 = register(w1, u32_format(&name, "x")).unwrap();
    let r2 = register(w2, u32_format(&name, "x")).unwrap();
    assert_eq!(r1.write_index(), r2.write_index());
    common::set_enabled(tracefs, &name, true);
    common::wait_kernel_bit(w1, true);
    common::wait_kernel_bit(w2, true);
    assert_eq!(r2.write(&[Value::U32(42)]), Ok(WriteOutcome::Written));
    common::wait_trace_line(tracefs, &name, &["x=0x2a (42)"]);
    common::set_enabled(tracefs, &name, false);
}

/// dyn_test.c `check_match`: registers `first` then `second` (two words); true when both are
/// accepted, false on FormatConflict.
fn formats_match(first: EventFormat, second: EventFormat) -> bool {
    let (w1, w2) = (common::leak_word(), common::leak_word());
    let _r1 = register(w1, first).unwrap();
    match register(w2, second) {
        Ok(_) => true,
        Err(Error::FormatConflict { name }) => {
            assert!(!name.is_empty());
            false
        }
        Err(e) => panic!("unexpected {e:?}"),
    }
}

#[test]
fn matching_formats_like_dyn_test() {
    let Some(_) = common::user_events("matching") else {
        return;
    };
    let t = |n: &str| common::unique(n);
    let f =
        |name: &str, fields: &[(&str, FieldType)]| EventFormat::with_fields(name, fields).unwrap();
    use FieldType::{U32, U64};

    let n = t("lc_m1");
    assert!(
        formats_match(f(&n, &[("a", U32)]), f(&n, &[("a", U32)])),
        "single name matches"
    );
    let n = t("lc_m2");
    assert!(formats_match(
        f(&n, &[("a", U32), ("b", U32)]),
        f(&n, &[("a", U32), ("b", U32)])
    ));
    let n = t("lc_m3");
    let e = {
        let _r = register(common::leak_word(), f(&n, &[("a", U32)])).unwrap();
        register(common::leak_word(), f(&n, &[("b", U32)])).unwrap_err()
    };
    assert_eq!(
        e,
        Error::FormatConflict { name: n.clone() },
        "single name differs"
    );
    assert!(e.to_string().contains("different fields"), "{e}");
    let n = t("lc_m4");
    assert!(!formats_match(
        f(&n, &[("a", U32), ("b", U32)]),
        f(&n, &[("b", U32), ("a", U32)])
    ));
    let n = t("lc_m5");
    assert!(!formats_match(
        f(&n, &[("a", U64), ("b", U64)]),
        f(&n, &[("a", U32), ("b", U32)])
    ));
    let n = t("lc_m6");
    assert!(!formats_match(
        f(&n, &[("a", U32)]),
        EventFormat::new(&n).unwrap()
    ));
    // A dangling ';' is the same format to the kernel (only expressible through the raw seam).
    let n = t("lc_m7");
    assert!(formats_match(
        f(&n, &[("a", U32), ("b", U32)]),
        EventFormat::__raw_unchecked(&format!("{n} u32 a; u32 b;"))
    ));
}

#[test]
fn kernel_einval_is_reported_with_its_errno() {
    // dyn_test.c's refused declarations, sent raw (the builder refuses them first, see
    // tests/validation.rs): the kernel says EINVAL and we report exactly that.
    let Some(_) = common::user_events("einval") else {
        return;
    };
    let n = common::unique("lc_inval");
    for args in [
        format!("{n} char[aa] a"),
        format!("{n} char[9999] a"),
        format!("{n} char[0x0000000000001] a"),
        format!("{n} struct custom a"),
        format!("{n} char a 20"),
        format!("{n}:BADFLAG u32 a"),
        format!("{n} u32"),
    ] {
        let e = register(common::leak_word(), EventFormat::__raw_unchecked(&args)).unwrap_err();
        assert_eq!(
            e,
            Error::Kernel {
                op: Op::Register,
                errno: Errno::INVAL
            },
            "{args}"
        );
        assert!(e.to_string().contains("EINVAL"), "{e}");
    }
    // 512 bytes or more: refused by the kernel too (the builder says FormatError::TooLong).
    let long = format!("{n} u32 {}", "a".repeat(600));
    let e = register(common::leak_word(), EventFormat::__raw_unchecked(&long)).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Kernel {
                op: Op::Register,
                ..
            }
        ),
        "{e:?}"
    );
    // And the forms dyn_test accepts, which the builder cannot spell, are accepted.
    for args in [
        format!("{n}_ok1 struct custom a 20"),
        format!("{n}_ok2 unsigned char[0x14] a"),
    ] {
        register(common::leak_word(), EventFormat::__raw_unchecked(&args))
            .unwrap_or_else(|e| panic!("{args}: {e}"));
    }
}

#[test]
fn delete_is_busy_while_this_process_holds_the_event() {
    // ftrace_test.c register_events: DEL of an event in use is EBUSY; the process's
    // user_events_data descriptor holds every event it registered until it closes (exit).
    let Some(_) = common::user_events("delete_busy") else {
        return;
    };
    let name = common::unique("lc_del");
    let word = common::leak_word();
    let reg = register(word, u32_format(&name, "x")).unwrap();
    let e = delete(&name).unwrap_err();
    assert_eq!(e, Error::Busy { name: name.clone() });
    assert!(e.to_string().contains("still in use"), "{e}");
    drop(reg);
    assert_eq!(
        delete(&name),
        Err(Error::Busy { name: name.clone() }),
        "our descriptor holds it"
    );
    // A bad name is refused before the ioctl.
    assert!(matches!(delete("no spaces allowed"), Err(Error::Format(_))));
}

#[test]
fn events_of_an_exited_process_vanish_or_persist_until_deleted() {
    let Some(tracefs) = common::user_events("delete") else {
        return;
    };
    // Non-persistent: gone with the process that registered it; DEL then says ENOENT.
    let plain = common::unique("lc_gone");
    let (ok, text) = run_child("child_helper", "register", &plain, false);
    assert!(ok && text.contains("CHILD-OK"), "child failed:\n{text}");
    assert!(
        common::wait_until(|| !common::event_exists(tracefs, &plain)),
        "a non-persistent event must vanish with its process"
    );
    assert_eq!(
        delete(&plain),
        Err(Error::NotFound {
            name: plain.clone()
        })
    );

    // Persistent: stays after its process exits, is busy while ftrace uses it, then deleted.
    let kept = common::unique("lc_persist");
    let (ok, text) = run_child("child_helper", "register_persist", &kept, false);
    assert!(ok && text.contains("CHILD-OK"), "child failed:\n{text}");
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert!(
        common::event_exists(tracefs, &kept),
        "a persistent event stays"
    );
    common::set_enabled(tracefs, &kept, true);
    assert_eq!(delete(&kept), Err(Error::Busy { name: kept.clone() }));
    common::set_enabled(tracefs, &kept, false);
    assert_eq!(delete(&kept), Ok(()));
    assert!(!common::event_exists(tracefs, &kept));
    assert_eq!(delete(&kept), Err(Error::NotFound { name: kept }));
}

#[test]
fn multi_format_allows_two_layouts_under_one_name() {
    let Some(tracefs) = common::user_events("multi") else {
        return;
    };
    let name = common::unique("lc_multi");
    let (w1, w2) = (common::leak_word(), common::leak_word());
    let multi = RegisterOptions::new().multi_format(true);
    let r1 = register_with(w1, u32_format(&name, "a"), multi).unwrap();
    let r2 = register_with(
        w2,
        EventFormat::new(&name)
            .unwrap()
            .field("s", FieldType::Str)
            .unwrap(),
        multi,
    )
    .unwrap();
    // 6.12 knows MULTI_FORMAT: it was kept, and the tracepoints are user_events_multi:NAME.<id>.
    assert!(r1.is_multi_format() && r2.is_multi_format());
    let dir = tracefs.join("events/user_events_multi");
    let mut found: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(&format!("{name}.")))
        .collect();
    found.sort();
    assert_eq!(found.len(), 2, "{found:?}");
    for tp in &found {
        common::set_enabled_in(tracefs, "user_events_multi", tp, true);
    }
    common::wait_kernel_bit(w1, true);
    common::wait_kernel_bit(w2, true);
    assert_eq!(r1.write(&[Value::U32(5)]), Ok(WriteOutcome::Written));
    assert_eq!(r2.write(&[Value::Str("two")]), Ok(WriteOutcome::Written));
    let text = String::from_utf8_lossy(&std::fs::read(tracefs.join("trace")).unwrap()).into_owned();
    assert!(
        common::wait_until(|| {
            let t = String::from_utf8_lossy(&std::fs::read(tracefs.join("trace")).unwrap())
                .into_owned();
            t.contains(&format!("{name}.")) && t.contains("a=0x5 (5)") && t.contains("s=two")
        }),
        "{text}"
    );
    for tp in &found {
        common::set_enabled_in(tracefs, "user_events_multi", tp, false);
    }
    // Without the flag the same name with another layout still conflicts with nothing here:
    // multi-format events live apart from the plain namespace.
    let _plain = register(common::leak_word(), u32_format(&name, "zz")).unwrap();
}

/// Runs this test binary again with only the (ignored) test `child` selected, in role
/// `role` for event `name`, as user `nobody` or as ourselves.
fn run_child(child: &str, role: &str, name: &str, as_nobody: bool) -> (bool, String) {
    let exe = if as_nobody {
        executable_by_nobody()
    } else {
        std::env::current_exe().unwrap()
    };
    let mut command = Command::new(exe);
    command
        .args([
            "--exact",
            child,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("COTRACE_CHILD_ROLE", role)
        .env("COTRACE_CHILD_NAME", name)
        .current_dir("/");
    if as_nobody {
        command.uid_gid(65534);
    }
    let out = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A copy of this test binary that user `nobody` can execute, made once per process in a fresh
/// 0755 directory: the checkout (and so `target/`) may sit under a directory only its owner can
/// traverse, e.g. a clone under a `mktemp -d` directory (mode 0700).
fn executable_by_nobody() -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    static COPY: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    COPY.get_or_init(|| {
        // /tmp itself is world-traversable (mode 1777); the directory is 0755.
        let dir =
            std::path::Path::new("/tmp").join(format!("cotrace-lifecycle-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let exe = dir.join("lifecycle");
        std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        exe
    })
    .clone()
}

trait UidGid {
    fn uid_gid(&mut self, id: u32) -> &mut Self;
}

impl UidGid for Command {
    fn uid_gid(&mut self, id: u32) -> &mut Self {
        use std::os::unix::process::CommandExt;
        self.gid(id).uid(id)
    }
}

#[test]
fn permissions_without_root() {
    let Some(tracefs) = common::user_events("permissions") else {
        return;
    };
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        assert!(!common::required(), "the VM runs tests as root");
        eprintln!("SKIPPED permissions_without_root: needs root to switch users");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let data = tracefs.join("user_events_data");
    let (dir_mode, data_mode) = (
        std::fs::metadata(tracefs).unwrap().permissions().mode(),
        std::fs::metadata(&data).unwrap().permissions().mode(),
    );
    // 1. Default modes (tracefs 0700, user_events_data 0640): no permission, said clearly.
    let (ok, text) = run_child("child_helper", "denied", &common::unique("lc_denied"), true);
    assert!(ok, "child failed:\n{text}");
    assert!(text.contains("CHILD-OK"), "{text}");

    // 2. Opened up: plain registration works, PERSIST is EPERM (no CAP_PERFMON).
    std::fs::set_permissions(tracefs, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (ok, text) = run_child(
        "child_helper",
        "persist_eperm",
        &common::unique("lc_eperm"),
        true,
    );
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(data_mode)).unwrap();
    std::fs::set_permissions(tracefs, std::fs::Permissions::from_mode(dir_mode)).unwrap();
    let _ = std::fs::remove_dir_all(executable_by_nobody().parent().unwrap());
    assert!(ok, "child failed:\n{text}");
    assert!(text.contains("CHILD-OK"), "{text}");
}

/// Not a test on its own: other tests run it in a child process (see `run_child`).
#[test]
#[ignore = "run by other tests in a child process"]
fn child_helper() {
    let role = std::env::var("COTRACE_CHILD_ROLE").expect("run by other tests (run_child)");
    let name = std::env::var("COTRACE_CHILD_NAME").unwrap();
    match role.as_str() {
        "denied" => {
            let why = cotrace_kernel::availability().unwrap_err();
            assert!(
                matches!(why, Unavailable::PermissionDenied { .. }),
                "{why:?}"
            );
            let message = why.to_string();
            assert!(
                message.contains("permission denied") && message.contains("root"),
                "{message}"
            );
            let e = register(common::leak_word(), u32_format(&name, "x")).unwrap_err();
            assert_eq!(e, Error::Unavailable(why));
        }
        "register" | "register_persist" => {
            let options = RegisterOptions::new().persist(role == "register_persist");
            let reg = register_with(common::leak_word(), u32_format(&name, "x"), options).unwrap();
            assert_eq!(reg.is_persistent(), role == "register_persist");
            // Exiting closes the descriptor and drops the registration.
        }
        "persist_eperm" => {
            cotrace_kernel::availability().expect("opened up by the parent");
            let e = register_with(
                common::leak_word(),
                u32_format(&name, "x"),
                RegisterOptions::new().persist(true),
            )
            .unwrap_err();
            assert_eq!(e, Error::PersistNotPermitted);
            assert!(e.to_string().contains("CAP_PERFMON"), "{e}");
            register(common::leak_word(), u32_format(&name, "x")).expect("plain registration");
        }
        other => panic!("unknown role {other}"),
    }
    println!("CHILD-OK");
}
