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
//! Reported per case: the median and the 10th percentile of the single spawn times (the latter
//! moves less when other processes compete for the CPU), each with its ratio to the baseline. Run it with a session daemon,
//! as `scripts/bench-fork.sh` does (a private one in a private mount namespace); without one,
//! the child hook has no daemon to talk to and costs little.
//!
//! `--quick`: 3 rounds of 50 (default 15 rounds of 100).

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use cotrace_ust::{ForkPolicy, set_fork_policy};

/// The time of each of `n` spawns.
fn spawn_wait(n: u32) -> Vec<Duration> {
    (0..n)
        .map(|_| {
            let start = Instant::now();
            let mut cmd = Command::new("/bin/true");
            // SAFETY: the closure does nothing (it only forces the fork path).
            unsafe { cmd.pre_exec(|| Ok(())) };
            let status = cmd.spawn().expect("spawn /bin/true").wait().expect("wait");
            assert!(status.success());
            start.elapsed()
        })
        .collect()
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
fn round_in_child(case: &str, n: u32) -> Vec<Duration> {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--round", case, &n.to_string()])
        .output()
        .expect("run a round");
    assert!(out.status.success(), "{case} round failed");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|ns| Duration::from_nanos(ns.parse().unwrap()))
        .collect()
}

/// The `q`-quantile (0..=1) of `v`.
fn quantile(v: &mut [Duration], q: f64) -> Duration {
    v.sort();
    v[((v.len() - 1) as f64 * q) as usize]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--round") {
        let n: u32 = args[i + 2].parse().unwrap();
        if args[i + 1] == "lttng" {
            load_lttng();
        }
        spawn_wait(n / 4);
        for d in spawn_wait(n) {
            println!("{}", d.as_nanos());
        }
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let (rounds, n) = if quick { (3, 50) } else { (15, 100) };
    println!("{}", cotrace_ust::status());
    spawn_wait(n / 4);
    let mut cases: [(&str, Vec<Duration>); 4] = [
        ("baseline (cotrace-ust not initialized)", vec![]),
        ("liblttng-ust loaded, no cotrace-ust", vec![]),
        ("ForkPolicy::TraceChildren (default)", vec![]),
        ("ForkPolicy::ExecOnly (opt-out)", vec![]),
    ];
    for _ in 0..rounds {
        cases[0].1.extend(round_in_child("baseline", n));
        cases[1].1.extend(round_in_child("lttng", n));
        set_fork_policy(ForkPolicy::TraceChildren);
        cases[2].1.extend(spawn_wait(n));
        set_fork_policy(ForkPolicy::ExecOnly);
        cases[3].1.extend(spawn_wait(n));
    }
    let stats: Vec<(&str, Duration, Duration)> = cases
        .iter_mut()
        .map(|(name, v)| (*name, quantile(v, 0.5), quantile(v, 0.1)))
        .collect();
    let (base_median, base_p10) = (stats[0].1.as_secs_f64(), stats[0].2.as_secs_f64());
    println!(
        "Command::spawn + wait with pre_exec, {} spawns per case in {rounds} alternating rounds:",
        rounds * n
    );
    println!(
        "  {:<40} {:>10} {:>6}  {:>10} {:>6}",
        "", "median", "", "p10", ""
    );
    for (name, median, p10) in stats {
        println!(
            "  {name:<40} {median:>10.1?} {:>5.2}x  {p10:>10.1?} {:>5.2}x",
            median.as_secs_f64() / base_median,
            p10.as_secs_f64() / base_p10
        );
    }
}
