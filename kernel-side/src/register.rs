//! [`register`]: hands an enable word and an [`EventFormat`] to the kernel; [`Registration`]
//! unregisters on drop; [`delete`] removes an event by name.

use std::ffi::CString;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cotrace_word::EnableWord;
use cotrace_word::layout::{ENABLE_SIZE, KERNEL_BIT};

use crate::errno::Errno;
use crate::error::{Error, FormatError, Op, Result};
use crate::format::EventFormat;
use crate::sys::{self, RawFd, UserReg, UserUnreg};
use crate::tracefs::data_file;

/// How long [`delete`] retries `EBUSY` (the kernel drops an unregistered event's last
/// reference only after an RCU grace period; ~2 ms natively, longer under emulation).
const DELETE_RETRY_FOR: Duration = Duration::from_millis(500);
const DELETE_RETRY_EVERY: Duration = Duration::from_millis(2);

/// The addresses of the words this process has registered, to tell the kernel's two meanings
/// of `EADDRINUSE` apart. Held across the ioctl so concurrent registrations of one word are
/// classified correctly.
static REGISTERED: Mutex<Vec<usize>> = Mutex::new(Vec::new());

fn registered() -> std::sync::MutexGuard<'static, Vec<usize>> {
    // A panic while holding the lock leaves the Vec consistent (single push/retain calls).
    REGISTERED.lock().unwrap_or_else(|p| p.into_inner())
}

/// Options of [`register_with`]. The default (what [`register`] uses) asks for neither flag.
///
/// # Examples
///
/// ```
/// use cotrace_kernel::RegisterOptions;
///
/// let options = RegisterOptions::new().persist(true);
/// assert!(options.is_persist());
/// assert!(!options.is_multi_format());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RegisterOptions {
    persist: bool,
    multi_format: bool,
}

impl RegisterOptions {
    /// Neither PERSIST nor MULTI_FORMAT.
    pub const fn new() -> Self {
        Self {
            persist: false,
            multi_format: false,
        }
    }

    /// `USER_EVENT_REG_PERSIST`: the event outlives its last registration until [`delete`]d.
    /// Needs `CAP_PERFMON`; without it registration fails with
    /// [`Error::PersistNotPermitted`].
    pub const fn persist(mut self, on: bool) -> Self {
        self.persist = on;
        self
    }

    /// `USER_EVENT_REG_MULTI_FORMAT` (Linux 6.9+): events of one name may differ in fields; the
    /// kernel names the tracepoint `user_events_multi:<name>.<hex id>`. On an older kernel
    /// (`EINVAL`) the registration is retried without it; see
    /// [`Registration::is_multi_format`].
    pub const fn multi_format(mut self, on: bool) -> Self {
        self.multi_format = on;
        self
    }

    /// Whether PERSIST is asked for.
    pub const fn is_persist(&self) -> bool {
        self.persist
    }

    /// Whether MULTI_FORMAT is asked for.
    pub const fn is_multi_format(&self) -> bool {
        self.multi_format
    }
}

/// A live user_events registration of one enable word.
///
/// While it lives, the kernel sets bit 31 of the word when ftrace or perf enables the event and
/// clears it when they stop. Dropping it unregisters (`DIAG_IOCSUNREG`): from then on the kernel
/// no longer touches the word. The word is `&'static`, so it cannot be freed while the kernel
/// holds its address.
///
/// `Send + Sync`: [`write`](Self::write) takes `&self` and may run on many threads at once.
#[derive(Debug)]
pub struct Registration {
    word: &'static EnableWord,
    fd: RawFd,
    write_index: u32,
    format: EventFormat,
    multi_format: bool,
    persist: bool,
    /// False once [`Registration::unregister`] ran, so drop does not unregister twice.
    live: bool,
}

/// Registers `word` for the event `format` with bit 31 and size 4, without flags.
///
/// The kernel writes the event's current state into bit 31 at once and keeps updating it. The
/// word's other bits are never touched.
///
/// # Errors
///
/// - [`Error::Unavailable`]: no user_events here (see [`availability`](crate::availability));
/// - [`Error::WordInUse`]: `word` is already registered by this process;
/// - [`Error::FormatConflict`]: the name exists with other fields;
/// - [`Error::Kernel`]: any other refusal (e.g. `EINVAL`, `ENOMEM`).
///
/// # Examples
///
/// ```
/// use cotrace_kernel::{EventFormat, FieldType, Value, register};
/// use cotrace_word::EnableWord;
///
/// static WORD: EnableWord = EnableWord::new();
///
/// let format = EventFormat::new("doc_example")?.field("n", FieldType::U32)?;
/// match register(&WORD, format) {
///     Ok(reg) => {
///         if WORD.snapshot().kernel_enabled() {
///             reg.write(&[Value::U32(7)])?;
///         }
///     }
///     Err(e) => println!("no kernel tracing: {e}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn register(word: &'static EnableWord, format: EventFormat) -> Result<Registration> {
    register_with(word, format, RegisterOptions::new())
}

/// [`register`] with [`RegisterOptions`] (PERSIST, MULTI_FORMAT).
///
/// # Errors
///
/// Those of [`register`], and [`Error::PersistNotPermitted`] when PERSIST is refused.
pub fn register_with(
    word: &'static EnableWord,
    format: EventFormat,
    options: RegisterOptions,
) -> Result<Registration> {
    let data = data_file().map_err(|u| Error::Unavailable(u.clone()))?;
    // Cannot fail: EventFormat only holds validated identifiers.
    let name_args = CString::new(format.as_str()).map_err(|_| {
        Error::Format(FormatError::InvalidName {
            name: format.name().to_owned(),
            position: 0,
        })
    })?;
    let address = word.kernel_address();
    let mut flags = 0;
    if options.persist {
        flags |= sys::FLAG_PERSIST;
    }
    if options.multi_format {
        flags |= sys::FLAG_MULTI_FORMAT;
    }

    let mut words = registered();
    let attempt = |flags: u16| {
        let mut reg = UserReg {
            size: core::mem::size_of::<UserReg>() as u32,
            enable_bit: KERNEL_BIT,
            enable_size: ENABLE_SIZE,
            flags,
            enable_addr: address as u64,
            name_args: name_args.as_ptr() as u64,
            write_index: 0,
        };
        sys::ioctl_reg(data.fd, &mut reg).map(|()| reg.write_index)
    };
    let mut result = attempt(flags);
    if result == Err(Errno::INVAL) && flags & sys::FLAG_MULTI_FORMAT != 0 {
        // Kernels before 6.9 refuse unknown flags with EINVAL: try the plain format.
        flags &= !sys::FLAG_MULTI_FORMAT;
        result = attempt(flags);
    }
    match result {
        Ok(write_index) => {
            words.push(address as usize);
            Ok(Registration {
                word,
                fd: data.fd,
                write_index,
                format,
                multi_format: flags & sys::FLAG_MULTI_FORMAT != 0,
                persist: options.persist,
                live: true,
            })
        }
        Err(Errno::ADDRINUSE) if words.contains(&(address as usize)) => Err(Error::WordInUse),
        Err(Errno::ADDRINUSE) => Err(Error::FormatConflict {
            name: format.name().to_owned(),
        }),
        Err(Errno::PERM) if options.persist => Err(Error::PersistNotPermitted),
        Err(errno) => Err(Error::Kernel {
            op: Op::Register,
            errno,
        }),
    }
}

impl Registration {
    /// The registered word.
    pub fn word(&self) -> &'static EnableWord {
        self.word
    }

    /// The event's format.
    pub fn format(&self) -> &EventFormat {
        &self.format
    }

    /// The event's name.
    pub fn name(&self) -> &str {
        self.format.name()
    }

    /// The kernel's write index for this event (the first 4 bytes of every write).
    pub fn write_index(&self) -> u32 {
        self.write_index
    }

    /// Whether the kernel accepted MULTI_FORMAT (then the tracepoint is
    /// `user_events_multi:<name>.<hex id>`; otherwise `user_events:<name>`).
    pub fn is_multi_format(&self) -> bool {
        self.multi_format
    }

    /// Whether the event was registered with PERSIST.
    pub fn is_persistent(&self) -> bool {
        self.persist
    }

    /// Unregisters now, reporting failure (dropping does the same and ignores it). Afterwards
    /// the kernel no longer updates the word; bit 31 keeps its last value only until the
    /// kernel's final clear (the kernel clears the bit on unregister).
    ///
    /// # Errors
    ///
    /// [`Error::Kernel`] with the errno of `DIAG_IOCSUNREG`.
    pub fn unregister(mut self) -> Result<()> {
        self.live = false;
        self.unregister_now()
    }

    fn unregister_now(&self) -> Result<()> {
        let address = self.word.kernel_address() as usize;
        let mut words = registered();
        let unreg = UserUnreg {
            size: core::mem::size_of::<UserUnreg>() as u32,
            disable_bit: KERNEL_BIT,
            reserved: 0,
            reserved2: 0,
            disable_addr: address as u64,
        };
        let result = sys::ioctl_unreg(self.fd, &unreg);
        if let Some(i) = words.iter().position(|&a| a == address) {
            words.swap_remove(i);
        }
        result.map_err(|errno| Error::Kernel {
            op: Op::Unregister,
            errno,
        })
    }

    /// The descriptor writes go to.
    pub(crate) fn fd(&self) -> RawFd {
        self.fd
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // Nothing useful can be done with a failure here; `unregister` reports it.
        if self.live {
            let _ = self.unregister_now();
        }
    }
}

/// Deletes the event `name` (`DIAG_IOCSDEL`): for PERSIST events, which outlive the processes
/// that registered them.
///
/// The kernel refuses (`EBUSY`) while anything references the event: a registration, ftrace or
/// perf using it, or the `user_events_data` descriptor of any process that registered it. This
/// crate keeps one descriptor open for the life of the process, so **an event this process has
/// registered cannot be deleted by this process** ([`Error::Busy`]) until it exits; delete it
/// from another process (a tool, a test harness) afterwards. Right after the last reference goes
/// the kernel keeps the event for an RCU grace period, so `EBUSY` is retried every 2 ms for up
/// to 500 ms before [`Error::Busy`] is returned. Non-persistent events disappear by themselves
/// when their last reference goes; deleting one afterwards gives [`Error::NotFound`].
///
/// # Errors
///
/// [`Error::Unavailable`], [`Error::Format`] (a name [`EventFormat::new`] would refuse),
/// [`Error::NotFound`], [`Error::Busy`], or [`Error::Kernel`] (e.g. `EPERM`: deleting a
/// persistent event needs `CAP_PERFMON`).
pub fn delete(name: &str) -> Result<()> {
    // Validates the name the same way registration does.
    let format = EventFormat::new(name)?;
    let data = data_file().map_err(|u| Error::Unavailable(u.clone()))?;
    let c_name = CString::new(format.name()).map_err(|_| {
        Error::Format(FormatError::InvalidName {
            name: name.to_owned(),
            position: 0,
        })
    })?;
    let deadline = Instant::now() + DELETE_RETRY_FOR;
    loop {
        match sys::ioctl_del(data.fd, &c_name) {
            Ok(()) => return Ok(()),
            Err(Errno::BUSY) if Instant::now() < deadline => {
                std::thread::sleep(DELETE_RETRY_EVERY);
            }
            Err(Errno::BUSY) => {
                return Err(Error::Busy {
                    name: name.to_owned(),
                });
            }
            Err(Errno::NOENT) => {
                return Err(Error::NotFound {
                    name: name.to_owned(),
                });
            }
            Err(errno) => {
                return Err(Error::Kernel {
                    op: Op::Delete,
                    errno,
                });
            }
        }
    }
}
