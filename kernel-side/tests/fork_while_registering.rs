//! A fork while another thread registers: the child registers an event of its own and exits
//! within a bound (a lock held by the parent's registering thread at the fork would stay held in
//! the child for ever). Its own binary: the registering thread is this test's. Needs
//! user_events: scripts/test-kernel.sh runs it in the VM.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cotrace_kernel::{EventFormat, FieldType, register};

const FORKS: usize = 40;

#[test]
fn a_child_forked_while_another_thread_registers_can_register() {
    let Some(_tracefs) = common::user_events("fork_reg") else {
        return;
    };
    let stop = Arc::new(AtomicBool::new(false));
    let registering = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            // A few names over and over: each new name would be one more event the
            // process's descriptor holds (the kernel refuses past its limit, EMFILE).
            let names: Vec<String> = (0..4).map(|_| common::unique("fr_parent")).collect();
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let format = EventFormat::new(&names[n % names.len()])
                    .unwrap()
                    .field("n", FieldType::U32)
                    .unwrap();
                // Registered and unregistered at once.
                drop(register(common::leak_word(), format).unwrap());
                n += 1;
            }
            n
        })
    };
    // Prepared before forking: the child only registers (and the name is unique to it).
    let names: Vec<String> = (0..FORKS).map(|_| common::unique("fr_child")).collect();
    let mut hung = 0;
    for name in &names {
        let format = EventFormat::new(name)
            .unwrap()
            .field("n", FieldType::U32)
            .unwrap();
        let word = common::leak_word();
        // SAFETY: the child only registers and leaves with _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let code = if register(word, format).is_ok() { 0 } else { 3 };
            // SAFETY: ends the child without the parent's exit handlers.
            unsafe { libc::_exit(code) };
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut status = 0;
        loop {
            // SAFETY: our own child; `status` is a valid out-pointer.
            if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
                assert!(
                    libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                    "child status {status:#x}"
                );
                break;
            }
            if Instant::now() > deadline {
                // SAFETY: our own child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                // SAFETY: reaps it.
                unsafe { libc::waitpid(pid, &mut status, 0) };
                hung += 1;
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    stop.store(true, Ordering::Relaxed);
    let registered = registering.join().unwrap();
    println!("{FORKS} forks while the other thread registered {registered} events");
    assert_eq!(
        hung, 0,
        "{hung} of {FORKS} children did not register and exit within 10 s"
    );
}
