//! [`Errno`]: a raw error number from the kernel, with names for the ones user_events returns.

use core::fmt;

/// An `errno` value returned by a system call.
///
/// A transparent newtype, not an enum, so codes this crate does not name still fit. The
/// constants are the codes user_events documents (see the
/// [crate docs](crate#what-the-kernel-returns)).
///
/// # Examples
///
/// ```
/// use cotrace_kernel::Errno;
///
/// let e = Errno::from_raw(22);
/// assert_eq!(e, Errno::INVAL);
/// assert_eq!(e.name(), Some("EINVAL"));
/// assert!(e.to_string().starts_with("EINVAL"));
/// ```
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(i32);

impl Errno {
    /// `EPERM`: operation not permitted (PERSIST without CAP_PERFMON).
    pub const PERM: Self = Self(libc::EPERM);
    /// `ENOENT`: no such file, event or write index.
    pub const NOENT: Self = Self(libc::ENOENT);
    /// `EBADF`: on a write, "nobody has the event enabled now".
    pub const BADF: Self = Self(libc::EBADF);
    /// `EACCES`: permission denied.
    #[doc(alias = "EACCES")]
    pub const ACCESS: Self = Self(libc::EACCES);
    /// `EFAULT`: bad address (a `__data_loc` outside the payload, an unterminated string).
    pub const FAULT: Self = Self(libc::EFAULT);
    /// `EBUSY`: the event is still in use.
    pub const BUSY: Self = Self(libc::EBUSY);
    /// `EINVAL`: invalid argument (bad format, unknown flag, short payload).
    pub const INVAL: Self = Self(libc::EINVAL);
    /// `E2BIG`: argument too long (`name_args` of 512 bytes or more).
    pub const TOOBIG: Self = Self(libc::E2BIG);
    /// `ENOMEM`: out of memory, or `kernel.user_events_max` reached.
    pub const NOMEM: Self = Self(libc::ENOMEM);
    /// `EADDRINUSE`: the (address, bit) is already registered, or the name is taken by another
    /// format.
    pub const ADDRINUSE: Self = Self(libc::EADDRINUSE);
    /// `ENOTTY`: the file does not know the ioctl.
    pub const NOTTY: Self = Self(libc::ENOTTY);

    /// Wraps a raw errno value.
    pub const fn from_raw(raw: i32) -> Self {
        Self(raw)
    }

    /// The raw errno value.
    pub const fn raw(self) -> i32 {
        self.0
    }

    /// The symbolic name (`"EINVAL"`) of the codes this type names.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            libc::EPERM => "EPERM",
            libc::ENOENT => "ENOENT",
            libc::EBADF => "EBADF",
            libc::EACCES => "EACCES",
            libc::EFAULT => "EFAULT",
            libc::EBUSY => "EBUSY",
            libc::EINVAL => "EINVAL",
            libc::E2BIG => "E2BIG",
            libc::ENOMEM => "ENOMEM",
            libc::EADDRINUSE => "EADDRINUSE",
            libc::ENOTTY => "ENOTTY",
            _ => return None,
        })
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "Errno({name})"),
            None => write!(f, "Errno({})", self.0),
        }
    }
}

impl fmt::Display for Errno {
    /// `EINVAL (Invalid argument)`: the name, then the C library's message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = std::io::Error::from_raw_os_error(self.0);
        let message = message.to_string();
        // std appends " (os error N)"; keep only the description.
        let message = message.split(" (os error").next().unwrap_or(&message);
        match self.name() {
            Some(name) => write!(f, "{name} ({message})"),
            None => write!(f, "errno {} ({message})", self.0),
        }
    }
}

impl std::error::Error for Errno {}

impl From<Errno> for std::io::Error {
    fn from(e: Errno) -> Self {
        std::io::Error::from_raw_os_error(e.0)
    }
}
