//! The errors of this crate: why user_events is [`Unavailable`], what is wrong with a
//! [`FormatError`] declaration, why the kernel refused a registration ([`Error`]), and why a
//! write was not sent ([`WriteError`]).

use std::fmt;
use std::path::PathBuf;

use crate::errno::Errno;
use crate::format::FieldType;

/// A specialised `Result` for registration and deletion.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Why user_events cannot be used by this process. Each message names what is missing and how
/// to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unavailable {
    /// The running kernel has no tracefs at all (`tracefs` absent from `/proc/filesystems`).
    KernelWithoutTracefs,
    /// The kernel supports tracefs but it is mounted nowhere this crate looked.
    TracefsNotMounted,
    /// tracefs is not mounted, and the kernel has no user_events anyway (its build config or
    /// its symbols say so): mounting tracefs would not help.
    KernelWithoutUserEventsUnmounted {
        /// What showed it (`/boot/config-<release>`, or `/proc/kallsyms` lacking
        /// `user_events_ioctl`).
        evidence: String,
    },
    /// tracefs is mounted but has no `user_events_data`: the kernel was built without
    /// `CONFIG_USER_EVENTS` (or is older than 6.4).
    KernelWithoutUserEvents {
        /// The tracefs directory that was searched.
        tracefs: PathBuf,
    },
    /// The tracefs directory or `user_events_data` exists but this user may not open it.
    PermissionDenied {
        /// The path that could not be opened.
        path: PathBuf,
    },
    /// Opening `user_events_data` failed for another reason.
    OpenFailed {
        /// The path that could not be opened.
        path: PathBuf,
        /// What `open` returned.
        errno: Errno,
    },
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::KernelWithoutTracefs => write!(
                f,
                "user_events unavailable: this kernel has no tracefs (not in /proc/filesystems); \
                 use a Linux 6.4+ kernel built with CONFIG_TRACING and CONFIG_USER_EVENTS"
            ),
            Self::TracefsNotMounted => write!(
                f,
                "user_events unavailable: tracefs is not mounted (looked at /sys/kernel/tracing, \
                 /sys/kernel/debug/tracing and /proc/mounts); as root run \
                 `mount -t tracefs nodev /sys/kernel/tracing`"
            ),
            Self::KernelWithoutUserEventsUnmounted { evidence } => write!(
                f,
                "user_events unavailable: this kernel was built without CONFIG_USER_EVENTS \
                 ({evidence}), so mounting tracefs (not mounted either) would not help; use a \
                 Linux 6.4+ kernel with CONFIG_USER_EVENTS=y (this project's vm/run.sh boots one)"
            ),
            Self::KernelWithoutUserEvents { tracefs } => write!(
                f,
                "user_events unavailable: {}/user_events_data does not exist, so the kernel was \
                 built without CONFIG_USER_EVENTS (or is older than 6.4); use a kernel with \
                 CONFIG_USER_EVENTS=y (this project's vm/run.sh boots one)",
                tracefs.display()
            ),
            Self::PermissionDenied { path } => write!(
                f,
                "user_events unavailable: permission denied opening {}; run as root, or let this \
                 user in (e.g. mount tracefs with `-o gid=<group>,mode=0750` and \
                 `chmod g+rw {}`)",
                path.display(),
                path.display()
            ),
            Self::OpenFailed { path, errno } => write!(
                f,
                "user_events unavailable: opening {} failed: {errno}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for Unavailable {}

/// What is wrong with an event declaration; found before any system call.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatError {
    /// The event name is empty.
    EmptyName,
    /// The event name is longer than [`MAX_NAME_LEN`](crate::MAX_NAME_LEN).
    NameTooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The event name has a character other than ASCII letters, digits and `_`, or starts with
    /// a digit.
    InvalidName {
        /// The name.
        name: String,
        /// Byte position of the first bad character.
        position: usize,
    },
    /// A field name has a character other than ASCII letters, digits and `_`, starts with a
    /// digit, or is empty.
    InvalidFieldName {
        /// The field name.
        field: String,
        /// Byte position of the first bad character.
        position: usize,
    },
    /// A field name starts with `common_`, the prefix of ftrace's own fields.
    ReservedFieldName {
        /// The field name.
        field: String,
    },
    /// Two fields have the same name.
    DuplicateField {
        /// The repeated name.
        field: String,
    },
    /// More than [`MAX_FIELDS`](crate::MAX_FIELDS) fields.
    TooManyFields {
        /// The limit.
        max: usize,
    },
    /// `char[N]` with N outside `1..=1024`.
    CharsLength {
        /// The N asked for.
        n: u16,
    },
    /// The fixed part of the event would exceed [`MAX_FIXED_SIZE`](crate::MAX_FIXED_SIZE).
    FixedPartTooLarge {
        /// Its size in bytes with the refused field.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A type name this crate does not support (see [`FieldType`]'s `FromStr`).
    UnsupportedType {
        /// The type as written.
        ty: String,
    },
    /// The `name_args` string would reach the kernel's 512-byte limit.
    TooLong {
        /// Its length in bytes, terminating NUL included.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyName => write!(f, "event name is empty"),
            Self::NameTooLong { len, max } => {
                write!(f, "event name is {len} bytes long; the limit is {max}")
            }
            Self::InvalidName { name, position } => write!(
                f,
                "event name {name:?} has a bad character at byte {position}: use ASCII letters, \
                 digits and '_', not starting with a digit"
            ),
            Self::InvalidFieldName { field, position } => write!(
                f,
                "field name {field:?} has a bad character at byte {position}: use ASCII letters, \
                 digits and '_', not starting with a digit"
            ),
            Self::ReservedFieldName { field } => write!(
                f,
                "field name {field:?} starts with \"common_\", which ftrace reserves for its own \
                 fields"
            ),
            Self::DuplicateField { field } => write!(f, "field {field:?} is declared twice"),
            Self::TooManyFields { max } => write!(f, "an event may have at most {max} fields"),
            Self::CharsLength { n } => {
                write!(f, "char[{n}]: the length must be between 1 and 1024")
            }
            Self::FixedPartTooLarge { size, max } => write!(
                f,
                "the event's fixed fields would take {size} bytes; the limit is {max} (use \
                 __data_loc strings or bytes instead of large char[N])"
            ),
            Self::UnsupportedType { ty } => write!(
                f,
                "unsupported field type {ty:?}: use u8..u64, s8..s64, char[N], \
                 \"__data_loc char[]\" or \"__data_loc u8[]\""
            ),
            Self::TooLong { len, max } => write!(
                f,
                "the event's name_args would be {len} bytes; the kernel's limit is {max} \
                 (shorten names or drop fields)"
            ),
        }
    }
}

impl std::error::Error for FormatError {}

/// The operation a kernel rejection came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `DIAG_IOCSREG`
    Register,
    /// `DIAG_IOCSUNREG`
    Unregister,
    /// `DIAG_IOCSDEL`
    Delete,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Register => "register (DIAG_IOCSREG)",
            Self::Unregister => "unregister (DIAG_IOCSUNREG)",
            Self::Delete => "delete (DIAG_IOCSDEL)",
        })
    }
}

/// Why a registration, unregistration or deletion failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// user_events cannot be used here; see [`Unavailable`].
    Unavailable(Unavailable),
    /// The declaration is invalid; nothing was sent to the kernel.
    Format(FormatError),
    /// `EADDRINUSE`: this enable word is already registered in this process (one word, one
    /// event).
    WordInUse,
    /// `EADDRINUSE`: an event of this name exists with different fields. Use another name, or
    /// [`RegisterOptions::multi_format`](crate::RegisterOptions::multi_format). Right after the
    /// last registration of the old format goes, the kernel may keep it a few milliseconds
    /// longer (RCU grace period).
    FormatConflict {
        /// The event name.
        name: String,
    },
    /// `EPERM` with PERSIST: a persistent event needs `CAP_PERFMON` (or `CAP_SYS_ADMIN`).
    PersistNotPermitted,
    /// `ENOENT` on delete: no event of that name exists (non-persistent events vanish with
    /// their last registration).
    NotFound {
        /// The event name.
        name: String,
    },
    /// `EBUSY` on delete, still after the bounded retry: something still references the
    /// event (a registration, ftrace or perf, or the `user_events_data` descriptor of a live
    /// process that registered it, this one included; see [`delete`](crate::delete)).
    Busy {
        /// The event name.
        name: String,
    },
    /// Any other refusal by the kernel (`EINVAL` for a format it rejects, `ENOMEM` when
    /// `kernel.user_events_max` is reached, ...).
    Kernel {
        /// What was attempted.
        op: Op,
        /// What the kernel returned.
        errno: Errno,
    },
}

impl Error {
    /// The kernel's errno behind this error, if any.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Self::WordInUse | Self::FormatConflict { .. } => Some(Errno::ADDRINUSE),
            Self::PersistNotPermitted => Some(Errno::PERM),
            Self::NotFound { .. } => Some(Errno::NOENT),
            Self::Busy { .. } => Some(Errno::BUSY),
            Self::Kernel { errno, .. } => Some(*errno),
            Self::Unavailable(Unavailable::OpenFailed { errno, .. }) => Some(*errno),
            Self::Unavailable(_) | Self::Format(_) => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable(u) => u.fmt(f),
            Self::Format(e) => write!(f, "invalid event declaration: {e}"),
            Self::WordInUse => write!(
                f,
                "EADDRINUSE: this enable word is already registered (one word per event)"
            ),
            Self::FormatConflict { name } => write!(
                f,
                "EADDRINUSE: an event named {name:?} already exists with different fields; \
                 rename it, or register with multi_format"
            ),
            Self::PersistNotPermitted => write!(
                f,
                "EPERM: a persistent event needs CAP_PERFMON (or CAP_SYS_ADMIN); register \
                 without persist, or grant the capability"
            ),
            Self::NotFound { name } => write!(f, "ENOENT: no user_events event named {name:?}"),
            Self::Busy { name } => write!(
                f,
                "EBUSY: event {name:?} is still in use (registered by a live process, this one \
                 included, or enabled by ftrace/perf); delete it after they are gone"
            ),
            Self::Kernel { op, errno } => write!(f, "the kernel refused to {op}: {errno}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Unavailable(u) => Some(u),
            Self::Format(e) => Some(e),
            _ => None,
        }
    }
}

impl From<Unavailable> for Error {
    fn from(u: Unavailable) -> Self {
        Self::Unavailable(u)
    }
}

impl From<FormatError> for Error {
    fn from(e: FormatError) -> Self {
        Self::Format(e)
    }
}

/// Why [`Registration::write`](crate::Registration::write) sent nothing.
///
/// Callers on a hot path usually ignore it; tests and debug builds should not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteError {
    /// The number of values differs from the number of fields.
    FieldCount {
        /// Fields in the format.
        expected: usize,
        /// Values given.
        found: usize,
    },
    /// A value's variant does not match its field's type.
    TypeMismatch {
        /// The field's position.
        index: usize,
        /// The field's type.
        expected: FieldType,
        /// The value's variant name (`"U32"`, `"Str"`, ...).
        found: &'static str,
    },
    /// A value is too long: `char[N]` given more than N bytes. (Dynamic fields are never too
    /// long: an oversized event is truncated to fit, see
    /// [`Registration::write`](crate::Registration::write).)
    TooLong {
        /// The field's position.
        index: usize,
        /// The value's length in bytes.
        len: usize,
        /// The largest length allowed there.
        max: usize,
    },
    /// `writev` failed with something other than `EBADF` (which means "not enabled now" and
    /// is reported as [`WriteOutcome::NotEnabled`](crate::WriteOutcome::NotEnabled)).
    Kernel(Errno),
    /// The application closed the process's `user_events_data` descriptor and no fresh one
    /// could be opened yet (or another thread is replacing it): the event was dropped, and
    /// nothing was sent to the closed descriptor's number. See
    /// [`descriptor_status`](crate::descriptor_status).
    DescriptorLost,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FieldCount { expected, found } => {
                write!(f, "{found} values given for an event of {expected} fields")
            }
            Self::TypeMismatch {
                index,
                expected,
                found,
            } => write!(f, "field {index} is {expected} but the value is {found}"),
            Self::TooLong { index, len, max } => write!(
                f,
                "field {index}: value of {len} bytes, at most {max} fit there"
            ),
            Self::Kernel(errno) => write!(f, "writev to user_events_data failed: {errno}"),
            Self::DescriptorLost => write!(
                f,
                "the user_events descriptor was closed by the application and not replaced \
                 yet: event dropped (see cotrace_kernel::descriptor_status())"
            ),
        }
    }
}

impl std::error::Error for WriteError {}
