//! The cost of `fork`+`exec` under cotrace-ust: `Command::spawn` + `wait` of `/bin/true` with a
//! `pre_exec` closure (which makes the standard library `fork` rather than `posix_spawn`, so
//! `pthread_atfork` hooks run), as the mean time per spawn in rounds of `n`, in four cases:
//!
//! - `baseline`: cotrace-ust not initialized (no liblttng-ust, no hooks);
//! - `lttng only`: liblttng-ust loaded by the program itself, cotrace-ust not initialized: what
//!   a process pays for LTTng-UST's threads and mappings alone;
//! - `TraceChildren`: cotrace-ust initialized, the default [`ForkPolicy::TraceChildren`]
//!   (LTTng's child hook re-registers each child with the session daemon before `exec`);
//! - `ExecOnly`: cotrace-ust initialized, the opt-out [`ForkPolicy::ExecOnly`].
//!
//! The first two run in fresh copies of this program (one per round), the last two in this
//! process; the four alternate round by round so that a busy machine weighs on all of them.
//! Reported: the median of each, and its ratio to the baseline. Run it with a session daemon,
//! as `scripts/bench-fork.sh` does (a private one in a private mount namespace); without one,
//! the child hook has no daemon to talk to and costs little.
//!
//! `--quick`: 3 rounds of 50 (default 7 rounds of 200).

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use cotrace_ust::{ForkPolicy, set_fork_policy};

fn spawn_wait(n: u32) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        let mut cmd = Command::new("/bin/true");
        // SAFETY: the closure does nothing (it only forces the fork path).
        unsafe { cmd.pre_exec(|| Ok(())) };
        let status = cmd.spawn().expect("spawn /bin/true").wait().expect("wait");
        assert!(status.success());
    }
    start.elapsed() / n
}

fn load_lttng() {
    // SAFETY: loads liblttng-ust as cotrace-ust would (its constructors register this process
    // with the session daemon); kept loaded for the rest of the process.
    let lib = unsafe {
        libloading::os::unix::Library::open(
            Some("liblttng-ust.so.1"),
            libloading::os::unix::RTLD_NOW | libloading::os::unix::RTLD_GLOBAL,
        )
    }
    .expect("load liblttng-ust.so.1");
    std::mem::forget(lib);
}

/// One round in a fresh copy of this program (`--round baseline|lttng N`).
fn round_in_child(case: &str, n: u32) -> Duration {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--round", case, &n.to_string()])
        .output()
        .expect("run a round");
    assert!(out.status.success(), "{case} round failed");
    let ns: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    Duration::from_nanos(ns)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--round") {
        let n: u32 = args[i + 2].parse().unwrap();
        if args[i + 1] == "lttng" {
            load_lttng();
        }
        spawn_wait(n / 4);
        println!("{}", spawn_wait(n).as_nanos());
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let (rounds, n) = if quick { (3, 50) } else { (7, 200) };
    println!("{}", cotrace_ust::status());
    spawn_wait(n / 4);
    let mut cases: [(&str, Vec<Duration>); 4] = [
        ("baseline (cotrace-ust not initialized)", vec![]),
        ("liblttng-ust loaded, no cotrace-ust", vec![]),
        ("ForkPolicy::TraceChildren (default)", vec![]),
        ("ForkPolicy::ExecOnly (opt-out)", vec![]),
    ];
    for _ in 0..rounds {
        cases[0].1.push(round_in_child("baseline", n));
        cases[1].1.push(round_in_child("lttng", n));
        set_fork_policy(ForkPolicy::TraceChildren);
        cases[2].1.push(spawn_wait(n));
        set_fork_policy(ForkPolicy::ExecOnly);
        cases[3].1.push(spawn_wait(n));
    }
    let medians: Vec<(&str, Duration)> = cases
        .into_iter()
        .map(|(name, v)| (name, median(v)))
        .collect();
    let baseline = medians[0].1.as_secs_f64();
    println!("Command::spawn + wait with pre_exec, median of {rounds} rounds of {n}:");
    for (name, d) in medians {
        println!(
            "  {name:<40} {d:>10.1?}  {:.2}x",
            d.as_secs_f64() / baseline
        );
    }
}
