//! Where user_events is missing (this project's host), everything degrades quietly: a typed
//! "unavailable" error saying what is missing, no panic. Where it is present (the VM), the same
//! calls succeed. Runs everywhere.

use cotrace_kernel::{Error, EventFormat, FieldType, Unavailable, availability, delete, register};
use cotrace_word::EnableWord;

static WORD: EnableWord = EnableWord::new();

/// What this machine should give, judged independently of the crate.
fn expected_unavailable() -> Option<&'static str> {
    let mounted = [
        "/sys/kernel/tracing/trace",
        "/sys/kernel/debug/tracing/trace",
    ]
    .iter()
    .any(|p| std::path::Path::new(p).exists())
        || std::fs::read_to_string("/proc/mounts").is_ok_and(|m| m.contains(" tracefs "));
    if !mounted {
        let fs = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
        if !fs.contains("tracefs") {
            return Some("no tracefs");
        }
        // Mounting tracefs helps only if the kernel has user_events (kallsyms tells).
        let lacks = std::fs::read_to_string("/proc/kallsyms")
            .is_ok_and(|k| !k.is_empty() && !k.contains(" user_events_ioctl\n"));
        return Some(if lacks {
            "built without CONFIG_USER_EVENTS"
        } else {
            "not mounted"
        });
    }
    let data = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
        .iter()
        .any(|d| std::path::Path::new(d).join("user_events_data").exists());
    if !data {
        return Some("CONFIG_USER_EVENTS");
    }
    if ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
        .iter()
        .any(|d| {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(std::path::Path::new(d).join("user_events_data"))
                .is_err_and(|e| e.kind() == std::io::ErrorKind::PermissionDenied)
        })
    {
        return Some("permission denied");
    }
    None
}

#[test]
fn unavailable_is_typed_and_explains_the_fix() {
    let expected = expected_unavailable();
    let name = format!("host_{}", std::process::id());
    let format = EventFormat::new(&name)
        .unwrap()
        .field("a", FieldType::U32)
        .unwrap();
    match (availability(), expected) {
        (Ok(tracefs), None) => {
            assert!(tracefs.join("user_events_data").exists());
            let reg = register(&WORD, format).expect("user_events is available");
            // Nobody enabled it: the write is a no-op reported as such.
            assert_eq!(
                reg.write(&[cotrace_kernel::Value::U32(1)]),
                Ok(cotrace_kernel::WriteOutcome::NotEnabled)
            );
            // The descriptor is open, ours, and was never replaced.
            let status = cotrace_kernel::descriptor_status().unwrap();
            assert!(status.fd.is_some() && status.lost.is_none(), "{status:?}");
        }
        (Err(why), Some(hint)) => {
            let message = why.to_string();
            assert!(
                message.contains(hint),
                "{message:?} should mention {hint:?}"
            );
            match hint {
                "not mounted" => {
                    assert_eq!(why, Unavailable::TracefsNotMounted);
                    assert!(message.contains("mount -t tracefs"), "{message}");
                }
                "no tracefs" => assert_eq!(why, Unavailable::KernelWithoutTracefs),
                "built without CONFIG_USER_EVENTS" => {
                    assert!(
                        matches!(why, Unavailable::KernelWithoutUserEventsUnmounted { .. }),
                        "{why:?}"
                    );
                    assert!(!message.contains("mount -t"), "{message}");
                }
                "permission denied" => {
                    assert!(
                        matches!(why, Unavailable::PermissionDenied { .. }),
                        "{why:?}"
                    )
                }
                _ => assert!(matches!(why, Unavailable::KernelWithoutUserEvents { .. })),
            }
            // Registration gives the same typed error, and nothing else breaks.
            let e = register(&WORD, format).unwrap_err();
            assert_eq!(e, Error::Unavailable(why.clone()));
            assert_eq!(e.to_string(), message);
            assert_eq!(delete(&name), Err(Error::Unavailable(why.clone())));
            assert_eq!(cotrace_kernel::descriptor_status(), Err(why));
            assert!(!WORD.is_enabled(), "nobody may set the kernel bit here");
            // The format builder does not need the kernel.
            assert!(EventFormat::new("still_fine").is_ok());
            eprintln!("as expected on this machine: {message}");
        }
        (got, expected) => {
            panic!("availability() = {got:?}, but this machine looks like {expected:?}")
        }
    }
}

#[test]
fn availability_is_stable_and_never_panics_across_threads() {
    let first = availability();
    let others: Vec<_> = (0..4).map(|_| std::thread::spawn(availability)).collect();
    for t in others {
        assert_eq!(t.join().unwrap(), first);
    }
}
