use core::fmt;

/// How severe an event is; maps onto LTTng-UST's loglevels.
///
/// Declared with `#[level(name)]` in [`provider!`](crate::provider); events without one are
/// [`Level::Info`]. `lttng enable-event --loglevel=LEVEL` keeps events at least as severe as
/// `LEVEL`. user_events has no levels: the kernel side records every level.
///
/// | `#[level(..)]` | LTTng-UST loglevel |
/// | --- | --- |
/// | `emergency` | `TRACE_EMERG` (0) |
/// | `alert` | `TRACE_ALERT` (1) |
/// | `critical` | `TRACE_CRIT` (2) |
/// | `error` | `TRACE_ERR` (3) |
/// | `warn` | `TRACE_WARNING` (4) |
/// | `notice` | `TRACE_NOTICE` (5) |
/// | `info` | `TRACE_INFO` (6) |
/// | `debug` | `TRACE_DEBUG` (14) |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Level {
    /// The system is unusable.
    Emergency,
    /// Action must be taken immediately.
    Alert,
    /// A critical condition.
    Critical,
    /// An error.
    Error,
    /// A warning.
    Warn,
    /// A normal but significant condition.
    Notice,
    /// Informational (the default).
    Info,
    /// Debugging detail.
    Debug,
}

impl Level {
    /// LTTng-UST's numeric loglevel (`TRACE_EMERG` = 0 ... `TRACE_DEBUG` = 14).
    pub const fn lttng_loglevel(self) -> i32 {
        match self {
            Self::Emergency => 0,
            Self::Alert => 1,
            Self::Critical => 2,
            Self::Error => 3,
            Self::Warn => 4,
            Self::Notice => 5,
            Self::Info => 6,
            Self::Debug => 14,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Emergency => "emergency",
            Self::Alert => "alert",
            Self::Critical => "critical",
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Notice => "notice",
            Self::Info => "info",
            Self::Debug => "debug",
        })
    }
}
