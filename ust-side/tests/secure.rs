//! Issue 9: `COTRACE_UST_LIBRARY` must not be honoured in a setuid (or setcap) process, where
//! the environment belongs to a less privileged user: a setuid-root copy of the test
//! application, run as `nobody` with the variable naming a library whose constructor creates a
//! file, must not load it. A control run without setuid shows the library does create the file
//! when loaded.

mod common;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::isolated;

/// The library's source (also compiled by scripts/test-arm64.sh for the arm64 guest).
const EVIL_C: &str = include_str!("data/evil.c");

/// A fresh directory every user can enter (the checkout's parents may be 0700).
fn public_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cotrace-secure-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// `libevil.so` in `dir`: compiled here with `cc`, or copied from `COTRACE_TEST_EVIL_LIB` (the
/// same source compiled beforehand for this test binary's architecture: the arm64 guest has no
/// compiler, scripts/test-arm64.sh cross-compiles it on the host). A copy, so that `nobody`
/// can read it whatever the permissions of the directories above the original.
fn build_evil(dir: &Path) -> PathBuf {
    let lib = dir.join("libevil.so");
    if let Some(prebuilt) = std::env::var_os("COTRACE_TEST_EVIL_LIB") {
        std::fs::copy(&prebuilt, &lib).unwrap_or_else(|e| {
            panic!(
                "COTRACE_TEST_EVIL_LIB={}: {e}",
                Path::new(&prebuilt).display()
            )
        });
        std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(0o755)).unwrap();
        return lib;
    }
    let src = dir.join("evil.c");
    std::fs::write(&src, EVIL_C).unwrap();
    let out = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&src)
        .output()
        .expect("run cc (build-essential; for a cross-built test, set COTRACE_TEST_EVIL_LIB)");
    assert!(
        out.status.success(),
        "cc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    lib
}

/// Runs `app` (through `runner` words first) with the variable set; returns its `status` line.
fn run(runner: &[&str], app: &Path, lib: &Path, marker: &Path) -> String {
    let mut cmd = Command::new(runner.first().copied().unwrap_or(app.to_str().unwrap()));
    if !runner.is_empty() {
        cmd.args(&runner[1..]).arg(app);
    }
    let mut child = cmd
        .env("COTRACE_UST_LIBRARY", lib)
        .env("COTRACE_TEST_MARKER", marker)
        .env("LTTNG_HOME", marker.parent().unwrap())
        .env_remove("LD_PRELOAD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the test application");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"status\nquit\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the application failed: {}",
        out.status
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines().nth(1).unwrap_or_default().to_owned()
}

#[test]
fn library_variable_is_ignored_in_a_setuid_process() {
    isolated("library_variable_is_ignored_in_a_setuid_process", || {
        assert_eq!(
            // SAFETY: geteuid has no preconditions.
            unsafe { libc::geteuid() },
            0,
            "needs root (to make a setuid-root copy)"
        );
        let dir = public_dir();
        let lib = build_evil(&dir);

        // Control: an ordinary process loads the named library, and its constructor runs.
        let marker = dir.join("control-marker");
        let status = run(
            &[],
            Path::new(env!("CARGO_BIN_EXE_cotrace-ust-test-app")),
            &lib,
            &marker,
        );
        assert!(
            marker.exists(),
            "control: the library was not loaded ({status})"
        );
        assert!(status.contains("libevil.so"), "control: {status}");

        // A setuid-root copy run as nobody: AT_SECURE is set, the variable must be ignored.
        let app = dir.join("app");
        std::fs::copy(env!("CARGO_BIN_EXE_cotrace-ust-test-app"), &app).unwrap();
        std::fs::set_permissions(&app, std::fs::Permissions::from_mode(0o4755)).unwrap();
        let marker = dir.join("setuid-marker");
        let status = run(
            &[
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
            ],
            &app,
            &lib,
            &marker,
        );
        assert!(
            !marker.exists(),
            "the setuid process loaded COTRACE_UST_LIBRARY ({status})"
        );
        assert!(!status.contains("libevil.so"), "{status}");
        let _ = std::fs::remove_dir_all(&dir);
    });
}
