//! What a forked child gets from cotrace: traced like its parent, or nothing (it will `exec`).

use core::sync::atomic::{AtomicU8, Ordering};

/// Environment variable: `exec-only` sets [`ForkPolicy::ExecOnly`], `trace`
/// [`ForkPolicy::TraceChildren`] (read when cotrace first installs its fork handler;
/// [`set_fork_policy`] overrides it).
pub const FORK_ENV: &str = "COTRACE_UST_FORK";

/// What a forked child gets from cotrace. See [`set_fork_policy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForkPolicy {
    /// The child is traced like its parent: it re-registers with LTTng's session daemon, and
    /// its enable words keep following ftrace and perf (the default).
    TraceChildren,
    /// The process forks only to `exec` (or `_exit`): the child hooks that re-register with
    /// the tracers are skipped, and a child's tracers are off. Forks are as cheap as without
    /// cotrace.
    ExecOnly,
}

const UNSET: u8 = 0;
const TRACE: u8 = 1;
const EXEC_ONLY: u8 = 2;

static POLICY: AtomicU8 = AtomicU8::new(UNSET);

/// Chooses what later forks do (process-wide; takes effect at the next `fork`, and overrides
/// [`FORK_ENV`]).
///
/// # Examples
///
/// ```
/// use cotrace_fork::{ForkPolicy, fork_policy, set_fork_policy};
///
/// // This program only forks to exec: skip re-registering each child with the tracers.
/// set_fork_policy(ForkPolicy::ExecOnly);
/// assert_eq!(fork_policy(), ForkPolicy::ExecOnly);
/// # set_fork_policy(ForkPolicy::TraceChildren);
/// ```
pub fn set_fork_policy(policy: ForkPolicy) {
    POLICY.store(encode(policy), Ordering::Relaxed);
}

/// The policy later forks follow: set by [`set_fork_policy`], else by [`FORK_ENV`] (once the
/// fork handler was installed), else [`ForkPolicy::TraceChildren`].
pub fn fork_policy() -> ForkPolicy {
    if POLICY.load(Ordering::Relaxed) == EXEC_ONLY {
        ForkPolicy::ExecOnly
    } else {
        ForkPolicy::TraceChildren
    }
}

const fn encode(policy: ForkPolicy) -> u8 {
    match policy {
        ForkPolicy::TraceChildren => TRACE,
        ForkPolicy::ExecOnly => EXEC_ONLY,
    }
}

/// The policy named by the environment's value, if any.
fn from_env(value: Option<&str>) -> Option<ForkPolicy> {
    match value {
        Some("exec-only") => Some(ForkPolicy::ExecOnly),
        Some("trace") => Some(ForkPolicy::TraceChildren),
        _ => None,
    }
}

/// Takes [`FORK_ENV`] unless [`set_fork_policy`] was called first.
pub(crate) fn read_env() {
    if let Some(p) = from_env(std::env::var(FORK_ENV).ok().as_deref()) {
        let _ = POLICY.compare_exchange(UNSET, encode(p), Ordering::Relaxed, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_values() {
        assert_eq!(from_env(Some("exec-only")), Some(ForkPolicy::ExecOnly));
        assert_eq!(from_env(Some("trace")), Some(ForkPolicy::TraceChildren));
        assert_eq!(from_env(Some("yes")), None);
        assert_eq!(from_env(None), None);
    }
}
