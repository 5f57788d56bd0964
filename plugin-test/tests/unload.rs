//! Issue 9: a plugin (a shared object containing cotrace) that is `dlclose`d must not leave
//! liblttng-ust's GOT pointing at unmapped code, nor the kernel writing bit 31 into unmapped or
//! reused memory. cotrace pins the object holding its words and hooks at `init()`, also when
//! only the kernel side registered (no liblttng-ust).
//!
//! The plugin is loaded, initialized and closed; then its event is enabled by LTTng (a private
//! lttng-sessiond: the enable calls the interposed attach function) and, where user_events
//! exists (the VM), by ftrace: the process must not crash, the word must count both, and a
//! fire through the plugin must be recorded by both.

#[path = "../../ust-side/tests/common/mod.rs"]
mod common;

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::{Lttng, isolated};

const TRACEFS: &str = "/sys/kernel/tracing";

fn plugin_path() -> PathBuf {
    // Cargo builds the package's cdylib before its integration tests, into `deps/`.
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().join("libcotrace_plugin_test.so");
    assert!(path.exists(), "{} not built", path.display());
    path
}

fn dl_error() -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated message owned by libc.
    let e = unsafe { libc::dlerror() };
    if e.is_null() {
        "?".into()
    } else {
        // SAFETY: as above, non-null.
        unsafe { std::ffi::CStr::from_ptr(e) }
            .to_string_lossy()
            .into_owned()
    }
}

/// Whether `path` is still loaded in this process (`RTLD_NOLOAD` never loads).
fn still_loaded(path: &CString) -> bool {
    // SAFETY: dlopen with RTLD_NOLOAD only looks the object up; the extra reference it takes is
    // given back at once.
    unsafe {
        let h = libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_NOLOAD);
        if h.is_null() {
            return false;
        }
        libc::dlclose(h);
        true
    }
}

fn wait_word(word: &AtomicU32, what: &str, ok: impl Fn(u32) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ok(word.load(Ordering::Relaxed)) {
        assert!(
            Instant::now() < deadline,
            "{what}: word stayed {:#x}",
            word.load(Ordering::Relaxed)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// True where the kernel half can run; panics where it is required but missing.
fn user_events_here() -> bool {
    if Path::new(TRACEFS).join("user_events_data").exists() {
        return true;
    }
    assert!(
        std::env::var_os("COTRACE_REQUIRE_USER_EVENTS").is_none(),
        "user_events required here but missing"
    );
    eprintln!("SKIPPED the kernel half: no user_events in this kernel (the VM run has it)");
    false
}

type Fire = extern "C" fn(u64);

/// Loads the plugin, calls its `cotrace_plugin_init` (which runs `cotrace::init`) and fires
/// once (nobody enabled it yet), on a thread that then ends, and `dlclose`s it; returns its
/// path, its word and its fire function.
///
/// On a thread that ends: the thread-local destructors the plugin's code registers (arc-swap's,
/// the standard library's) also keep it loaded (glibc's `__cxa_thread_atexit_impl`), but only
/// until that thread exits, so they must not be what keeps the words mapped.
fn load_init_close() -> (CString, *const u32, Fire) {
    let path = CString::new(plugin_path().into_os_string().into_encoded_bytes()).unwrap();
    // SAFETY: loading the test plugin runs no constructor of consequence; the symbols have the
    // signatures of plugin-test/src/lib.rs.
    let (word, fire) = unsafe {
        let h = libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
        assert!(!h.is_null(), "dlopen: {}", dl_error());
        let init = libc::dlsym(h, c"cotrace_plugin_init".as_ptr());
        let fire = libc::dlsym(h, c"cotrace_plugin_fire".as_ptr());
        assert!(!init.is_null() && !fire.is_null(), "dlsym: {}", dl_error());
        let init: extern "C" fn() -> *const u32 = std::mem::transmute(init);
        let fire: Fire = std::mem::transmute(fire);
        let word = std::thread::spawn(move || {
            let word = init() as usize;
            fire(1);
            word
        })
        .join()
        .unwrap() as *const u32;
        assert_eq!(libc::dlclose(h), 0, "dlclose: {}", dl_error());
        (word, fire)
    };
    (path, word, fire)
}

/// ftrace enables `plug_ping`: the word becomes bit 31 plus `users`, `fire(3)` is recorded in
/// the `trace` file; ftrace disables it: the word is back to `users`.
fn ftrace_records_a_fire(word: &AtomicU32, fire: Fire, users: u32) {
    let enable = Path::new(TRACEFS).join("events/user_events/plug_ping/enable");
    std::fs::write(Path::new(TRACEFS).join("trace"), "").unwrap();
    std::fs::write(&enable, "1").unwrap();
    wait_word(word, "ftrace enable", |w| w == 0x8000_0000 | users);
    fire(3);
    let trace = std::fs::read_to_string(Path::new(TRACEFS).join("trace")).unwrap();
    assert!(
        trace
            .lines()
            .any(|l| l.contains("plug_ping") && l.contains("(3)")),
        "the kernel did not record the plugin's fire:\n{trace}"
    );
    std::fs::write(&enable, "0").unwrap();
    wait_word(word, "ftrace disable", |w| w == users);
}

/// The kernel writes bit 31 into the word of every registered event for the rest of the
/// process, also when liblttng-ust is not installed and only the kernel side registered: the
/// plugin must stay mapped then too (else a library loaded later at the same address would
/// get the kernel's writes).
#[test]
fn kernel_only_plugin_closed_after_init_stays_mapped_and_is_traced() {
    const NAME: &str = "kernel_only_plugin_closed_after_init_stays_mapped_and_is_traced";
    let available = if Path::new(TRACEFS).join("user_events_data").exists() {
        Ok(())
    } else {
        Err("no user_events in this kernel".to_owned())
    };
    if !common::user_events_or_skip(NAME, available) {
        return;
    }
    isolated(NAME, || {
        // No LTTng-UST: only the kernel side registers.
        // SAFETY: set before the plugin's init reads it, while this isolated process runs this
        // one test alone.
        unsafe { std::env::set_var("COTRACE_UST_LIBRARY", "liblttng-ust-absent-here.so.1") };
        let (path, word, fire) = load_init_close();
        assert!(
            still_loaded(&path),
            "the plugin was unloaded by dlclose although the kernel holds its word's address"
        );
        // SAFETY: the word is an AtomicU32 in the plugin, which stays mapped (just checked).
        let word = unsafe { AtomicU32::from_ptr(word.cast_mut()) };
        ftrace_records_a_fire(word, fire, 0);
    });
}

#[test]
fn plugin_closed_after_init_then_enabled_by_both_tracers_does_not_crash() {
    isolated(
        "plugin_closed_after_init_then_enabled_by_both_tracers_does_not_crash",
        || {
            let mut lttng = Lttng::start("plugin");
            lttng.create("pg");
            lttng.lttng(&["enable-event", "-u", "plug:*", "-s", "pg"]);
            // LTTng's HOME for the app: this process.
            // SAFETY: set before liblttng-ust is loaded (by the plugin's init), while this
            // isolated process runs this one test alone.
            unsafe { std::env::set_var("LTTNG_HOME", lttng.home()) };

            let (path, word, fire) = load_init_close();
            // The plugin holds registered words and liblttng-ust's GOT points into it: it must
            // still be mapped.
            assert!(
                still_loaded(&path),
                "the plugin was unloaded by dlclose although cotrace registered its words and hooks"
            );
            // SAFETY: the word is an AtomicU32 in the plugin, which stays mapped (just checked).
            let word = unsafe { AtomicU32::from_ptr(word.cast_mut()) };

            // LTTng enables the event: liblttng-ust calls the interposed attach function.
            lttng.lttng(&["start", "pg"]);
            wait_word(word, "LTTng start", |w| w & 0x00ff_ffff == 1);
            fire(2);

            // The kernel half, where user_events exists.
            let kernel = user_events_here();
            if kernel {
                ftrace_records_a_fire(word, fire, 1);
            }

            lttng.lttng(&["stop", "pg"]);
            wait_word(word, "LTTng stop", |w| w == 0);
            let ns: Vec<String> = lttng
                .events("pg")
                .iter()
                .map(|e| e.get("n").to_owned())
                .collect();
            let want: &[&str] = if kernel { &["2", "3"] } else { &["2"] };
            assert_eq!(ns, want);
        },
    );
}
