//! The status report: which tracers work here, and the state of each event.

use core::fmt;
use std::sync::Arc;

use arc_swap::ArcSwapOption;

use cotrace_word::WordSnapshot;

use crate::field::FieldDesc;
use crate::level::Level;

/// The report returned by [`status`](crate::status) and [`init`](crate::init).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Status {
    /// The kernel's user_events (feature `kernel`).
    pub kernel: TracerStatus,
    /// LTTng-UST (feature `lttng`).
    pub lttng: TracerStatus,
    /// Every declared event.
    pub events: Vec<EventStatus>,
    /// Definitions refused for every tracer (e.g. a `tracing` callsite whose event could not
    /// be defined even after the [layer's mapping](crate#crate-feature-flags)), with why:
    /// nothing records them.
    pub refused: Vec<Refused>,
}

/// A definition that no tracer records, and why (see [`Status::refused`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Refused {
    /// What was to be defined.
    pub what: String,
    /// Why it could not be.
    pub why: String,
}

/// Refused definitions so far; read lock-free (a forked child never waits for its parent).
static REFUSED: ArcSwapOption<Vec<Refused>> = ArcSwapOption::const_empty();

/// Notes a refused definition for [`Status::refused`].
#[allow(dead_code)] // used by the `tracing` layer
pub(crate) fn refuse(what: String, why: String) {
    let refused = Refused { what, why };
    REFUSED.rcu(|list| {
        let mut list: Vec<Refused> = list.as_deref().cloned().unwrap_or_default();
        list.push(refused.clone());
        Some(Arc::new(list))
    });
}

/// The refused definitions so far.
pub(crate) fn refused() -> Vec<Refused> {
    REFUSED.load().as_deref().cloned().unwrap_or_default()
}

/// Whether one tracer can be used in this process, and if not, why.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TracerStatus {
    /// `"kernel"` or `"lttng"`.
    pub name: &'static str,
    /// The cargo feature that brings this tracer in is on.
    pub compiled_in: bool,
    /// The tracer can be used here: events registered with it can be enabled by it.
    pub available: bool,
    /// How it is used, or what is missing and how to fix it.
    pub detail: String,
}

impl TracerStatus {
    #[allow(dead_code)] // used when a tracer's feature is off
    pub(crate) fn not_compiled(name: &'static str) -> Self {
        Self {
            name,
            compiled_in: false,
            available: false,
            detail: format!("the `{name}` cargo feature of cotrace is off"),
        }
    }
}

/// One event's state.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EventStatus {
    /// Its LTTng name, `provider:event`.
    pub lttng_name: String,
    /// Its user_events name, `provider_event`.
    pub kernel_name: &'static str,
    /// Its level.
    pub level: Level,
    /// Its fields.
    pub fields: &'static [FieldDesc],
    /// Its enable word now: kernel bit and number of LTTng sessions (or triggers) attached.
    pub word: WordSnapshot,
    /// Its registration with the kernel.
    pub kernel: Registration,
    /// More about the kernel registration, when there is more to say: `#[persist]` refused
    /// (registered without it), the event is persistent, or its multi-format tracepoint name.
    pub kernel_note: Option<String>,
    /// Its registration with LTTng-UST.
    pub lttng: Registration,
    /// Its writes to the kernel that did not go as fired: truncated, dropped or failed.
    pub kernel_writes: KernelWrites,
}

/// Counts of one event's writes to user_events that did not go as fired, since
/// [`init`](crate::init). All zero without the `kernel` feature or registration.
///
/// An event whose fields exceed what every kernel consumer records (4064 bytes of payload:
/// ftrace's ring-buffer page) is recorded with its string and byte fields cut to fit, strings
/// ending with `"[truncated]"` (`cotrace_kernel::TRUNCATION_MARK`);
/// never dropped, never a kernel warning.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KernelWrites {
    /// Recorded with string or byte fields cut to fit.
    pub truncated: u64,
    /// Not sent: the application closed cotrace's user_events descriptor and no fresh one
    /// could be opened (see the kernel [`TracerStatus`]).
    pub dropped: u64,
    /// Refused by the kernel.
    pub failed: u64,
}

impl KernelWrites {
    /// True when every count is zero.
    pub fn is_clean(&self) -> bool {
        *self == Self::default()
    }
}

impl fmt::Display for KernelWrites {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} truncated, {} dropped, {} failed",
            self.truncated, self.dropped, self.failed
        )
    }
}

/// The state of one event's registration with one tracer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Registration {
    /// The tracer's cargo feature is off.
    NotCompiled,
    /// [`init`](crate::init) has not run yet.
    NotInitialized,
    /// Registered: the tracer can enable the event.
    Registered,
    /// Registration failed; the event stays off for this tracer. The message says why.
    Failed(String),
}

impl Registration {
    #[allow(dead_code)] // used when a tracer's feature is on
    pub(crate) fn from_slot<T>(slot: Option<&Result<T, String>>) -> Self {
        match slot {
            None => Self::NotInitialized,
            Some(Ok(_)) => Self::Registered,
            Some(Err(why)) => Self::Failed(why.clone()),
        }
    }
}

impl fmt::Display for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotCompiled => f.write_str("not compiled in"),
            Self::NotInitialized => f.write_str("not registered (cotrace::init() not called)"),
            Self::Registered => f.write_str("registered"),
            Self::Failed(why) => write!(f, "failed: {why}"),
        }
    }
}

impl fmt::Display for TracerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match (self.compiled_in, self.available) {
            (false, _) => "absent",
            (true, true) => "available",
            (true, false) => "unavailable",
        };
        write!(f, "{}: {state}: {}", self.name, self.detail)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.kernel)?;
        writeln!(f, "{}", self.lttng)?;
        for e in &self.events {
            write!(
                f,
                "{} ({}): {}; kernel {}{}; lttng {}",
                e.lttng_name,
                e.kernel_name,
                e.word,
                e.kernel,
                e.kernel_note
                    .as_deref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default(),
                e.lttng
            )?;
            if !e.kernel_writes.is_clean() {
                write!(f, "; kernel writes: {}", e.kernel_writes)?;
            }
            writeln!(f)?;
        }
        for r in &self.refused {
            writeln!(f, "refused: {}: {}", r.what, r.why)?;
        }
        Ok(())
    }
}
