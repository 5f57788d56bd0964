//! What the LTTng side can do in this process, and why.

use core::fmt;
use std::time::Duration;

/// Whether liblttng-ust could be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    /// Loaded from this library name.
    Available {
        /// The name passed to `dlopen`, and the file it resolved to when that differs.
        library: String,
        /// The oldest application ABI this liblttng-ust speaks to a session daemon (its
        /// `lttng-ust-sock-N` socket name: 8 in LTTng 2.13 and 2.14, 11 from 2.15, whose
        /// session daemons refuse older applications); `None` if the file could not be read.
        /// liblttng-ust carries no version string and exports the same symbols from 2.13 to
        /// 2.16, so this and the path are what tell its installations apart.
        app_abi: Option<u32>,
    },
    /// Not loaded: events stay off and their words' user counts stay 0.
    Unavailable {
        /// Why (the `dlopen` or `dlsym` error).
        reason: String,
    },
}

/// How the enable words' user counts follow LTTng (see [`crate::refcount`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefcountMode {
    /// Every attach and detach is counted synchronously by the interposed functions.
    Exact {
        /// What was interposed, where.
        detail: String,
    },
    /// A thread reconciles the counts with the call sites every `interval`.
    Polling {
        /// Reconciliation period.
        interval: Duration,
        /// Why the exact mode is not active.
        reason: String,
    },
    /// No counting: liblttng-ust is unavailable.
    Inactive,
}

/// The LTTng side's state. See [`status`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Whether liblttng-ust is loaded.
    pub availability: Availability,
    /// How the reference counts are kept.
    pub refcount: RefcountMode,
    /// How a forked child gets traced.
    pub fork: crate::fork::ForkHandling,
}

/// Reports the LTTng side's state, loading liblttng-ust first if nothing did yet.
///
/// # Examples
///
/// ```
/// let status = cotrace_ust::status();
/// println!("{status}");
/// ```
pub fn status() -> Status {
    match crate::loader::runtime() {
        Ok(lib) => Status {
            availability: Availability::Available {
                library: lib.library.clone(),
                app_abi: lib.app_abi,
            },
            refcount: crate::refcount::mode()
                .cloned()
                .unwrap_or(RefcountMode::Inactive),
            fork: crate::fork::handling().unwrap_or(crate::fork::ForkHandling::Unavailable {
                reason: "hooks not installed".into(),
            }),
        },
        Err(reason) => Status {
            availability: Availability::Unavailable {
                reason: reason.to_owned(),
            },
            refcount: RefcountMode::Inactive,
            fork: crate::fork::ForkHandling::Unavailable {
                reason: "LTTng-UST unavailable".into(),
            },
        },
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.availability {
            Availability::Available { library, app_abi } => {
                write!(f, "LTTng-UST: loaded ({library}")?;
                match app_abi {
                    Some(abi) => write!(f, "; app ABI {abi})")?,
                    None => write!(f, "; app ABI unknown)")?,
                }
            }
            Availability::Unavailable { reason } => write!(f, "LTTng-UST: unavailable ({reason})")?,
        }
        match &self.refcount {
            RefcountMode::Exact { detail } => write!(f, "; refcount: exact ({detail})")?,
            RefcountMode::Polling { interval, reason } => write!(
                f,
                "; refcount: polling every {} ms ({reason})",
                interval.as_millis()
            )?,
            RefcountMode::Inactive => write!(f, "; refcount: inactive")?,
        }
        match &self.fork {
            crate::fork::ForkHandling::Hooks => write!(f, "; fork: hooks installed"),
            crate::fork::ForkHandling::LttngForkPreload => write!(
                f,
                "; fork: liblttng-ust-fork.so preloaded (it calls LTTng's fork hooks; \
                 cotrace-ust's reset the child's counts)"
            ),
            crate::fork::ForkHandling::ExecOnly => {
                write!(f, "; fork: exec-only (children are not traced)")
            }
            crate::fork::ForkHandling::Unavailable { reason } => {
                write!(f, "; fork: not handled ({reason})")
            }
        }
    }
}
