//! [`register`]: hands an enable word and an [`EventFormat`] to the kernel; [`Registration`]
//! unregisters on drop; [`delete`] removes an event by name.

use std::ffi::{CStr, CString};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cotrace_word::EnableWord;
use cotrace_word::layout::{ENABLE_SIZE, KERNEL_BIT};

use crate::errno::Errno;
use crate::error::{Error, FormatError, Op, Result};
use crate::format::EventFormat;
use crate::live::{LIVE, Live};
use crate::sys::RawFd;
use crate::sys::{self, UserReg, UserUnreg};
use crate::tracefs::{Current, DataFile, data_file};
use crate::write::Stats;

/// How long [`delete`] retries `EBUSY` (the kernel drops an unregistered event's last
/// reference only after an RCU grace period; ~2 ms natively, longer under emulation).
const DELETE_RETRY_FOR: Duration = Duration::from_millis(500);
const DELETE_RETRY_EVERY: Duration = Duration::from_millis(2);

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
/// If the application closes the process's `user_events_data` descriptor (see
/// [`descriptor_status`](crate::descriptor_status)), the registration re-registers itself on a
/// fresh one before its next write: its [`write_index`](Self::write_index) may change.
///
/// `Send + Sync`: [`write`](Self::write) takes `&self` and may run on many threads at once.
#[derive(Debug)]
pub struct Registration {
    word: &'static EnableWord,
    data: &'static DataFile,
    /// `generation << 32 | write index`: the index is valid on the descriptor of that
    /// generation only.
    slot: AtomicU64,
    /// Serialises re-registering on a fresh descriptor (taken over by a forked child).
    renewing: cotrace_fork::Lock,
    flags: u16,
    multi_format: bool,
    persist: bool,
    pub(crate) stats: Stats,
    /// False once [`Registration::unregister`] ran, so drop does not unregister twice.
    live: bool,
    /// Whether cotrace's registrar thread holds the registration too ([`crate::anchor`]).
    kept: bool,
    /// The word's entry in the process's list of registered words ([`crate::live`]).
    entry: Arc<Live>,
}

/// Registers `word` for the event `format` with bit 31 and size 4, without flags.
///
/// The kernel writes the event's current state into bit 31 at once and keeps updating it. The
/// word's other bits are never touched. If `word` lives in a shared object (a plugin), that
/// object is made permanent first ([`cotrace_pin`]): a later `dlclose` does not unmap memory
/// the kernel writes into.
///
/// The registration outlives the calling thread: the kernel keeps enablers per group of
/// threads, and drops a group's when its last thread exits, so the word is also registered
/// from cotrace's registrar thread (`cotrace-user-events`, started at the first registration
/// and alive until the process exits or execs); see
/// [`outlives_registering_thread`](Registration::outlives_registering_thread). `fork` copies
/// into the child the registrations of the forking thread's group: that of the first thread
/// that registered (and of the threads it starts afterwards), which the registrar belongs to.
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
    crate::fork::install();
    let current = data.verified()?;
    let words = LIVE.lock();
    let mut outcome = Attempt::make(current, word, format, options).finish(data, &words);
    keep_after_thread_exit(data, &words, std::slice::from_mut(&mut outcome));
    outcome
}

/// [`register_with`] for many events at once, as `cotrace::init()` registers a program's:
/// one descriptor check and one lock for the batch, then the `DIAG_IOCSREG`s back to back
/// (only each word's plugin pin, a lookup, between them), then the bookkeeping. A result per
/// event, in order, each what [`register_with`] would have returned.
///
/// Batches of [`BATCH_MAX`] events at most take one descriptor check each (a longer one is
/// split): the check before a registration's ioctl is what keeps the ioctl from reaching a
/// file the application opened on the same number after closing ours, so it is never far
/// from the ioctl it covers.
///
/// # Examples
///
/// ```
/// use cotrace_kernel::{EventFormat, FieldType, RegisterOptions, register_many};
/// use cotrace_word::EnableWord;
///
/// static WORDS: [EnableWord; 2] = [EnableWord::new(), EnableWord::new()];
///
/// let events = WORDS.iter().enumerate().map(|(i, word)| {
///     let format = EventFormat::with_fields(&format!("doc_many_{i}"), &[("n", FieldType::U32)]);
///     (word, format.expect("valid"), RegisterOptions::new())
/// });
/// for outcome in register_many(events) {
///     match outcome {
///         Ok(reg) => assert!(reg.name().starts_with("doc_many_")),
///         Err(e) => println!("no kernel tracing: {e}"),
///     }
/// }
/// ```
pub fn register_many<I>(events: I) -> Vec<Result<Registration>>
where
    I: IntoIterator<Item = (&'static EnableWord, EventFormat, RegisterOptions)>,
{
    let mut events = events.into_iter();
    let mut outcomes = Vec::with_capacity(events.size_hint().0);
    let data = match data_file() {
        Ok(data) => data,
        Err(why) => {
            outcomes.extend(events.map(|_| Err(Error::Unavailable(why.clone()))));
            return outcomes;
        }
    };
    crate::fork::install();
    let mut attempts = Vec::with_capacity(BATCH_MAX.min(events.size_hint().0));
    loop {
        // The caller's work for these events (their formats) done before the first ioctl.
        let batch: Vec<_> = events.by_ref().take(BATCH_MAX).collect();
        if batch.is_empty() {
            return outcomes;
        }
        let current = match data.verified() {
            Ok(current) => current,
            Err(why) => {
                let left = batch.len() + events.count();
                outcomes.extend((0..left).map(|_| Err(Error::Unavailable(why.clone()))));
                return outcomes;
            }
        };
        let words = LIVE.lock();
        attempts.extend(
            batch
                .into_iter()
                .map(|(word, format, options)| Attempt::make(current, word, format, options)),
        );
        let first = outcomes.len();
        outcomes.extend(
            attempts
                .drain(..)
                .map(|attempt| attempt.finish(data, &words)),
        );
        keep_after_thread_exit(data, &words, &mut outcomes[first..]);
    }
}

/// The most events one descriptor check of [`register_many`] covers.
pub const BATCH_MAX: usize = 64;

/// One `DIAG_IOCSREG` made (with its MULTI_FORMAT fallback), its bookkeeping not yet done.
struct Attempt {
    word: &'static EnableWord,
    address: u64,
    format: EventFormat,
    options: RegisterOptions,
    flags: u16,
    current: Current,
    result: core::result::Result<u32, Errno>,
}

impl Attempt {
    /// Registers `word` on `current` (the caller checked it and holds [`LIVE`]'s lock).
    fn make(
        current: Current,
        word: &'static EnableWord,
        format: EventFormat,
        options: RegisterOptions,
    ) -> Self {
        let address = word.kernel_address() as u64;
        // The kernel writes bit 31 at this address until the process exits or execs: a word
        // in a shared object (a plugin) must stay mapped after the application `dlclose`s it.
        cotrace_pin::pin_object_containing(address as usize);
        let mut flags = 0;
        if options.persist {
            flags |= sys::FLAG_PERSIST;
        }
        if options.multi_format {
            flags |= sys::FLAG_MULTI_FORMAT;
        }
        // The format's own NUL-terminated string: no copy of it per registration.
        let attempt = |flags: u16| register_word(current.fd, address, format.as_c_str(), flags);
        let mut result = attempt(flags);
        if result == Err(Errno::INVAL) && flags & sys::FLAG_MULTI_FORMAT != 0 {
            // Kernels before 6.9 refuse unknown flags with EINVAL: try the plain format.
            flags &= !sys::FLAG_MULTI_FORMAT;
            result = attempt(flags);
        }
        Self {
            word,
            address,
            format,
            options,
            flags,
            current,
            result,
        }
    }

    /// The registration, or the error [`register_with`] returns (the lock is held: `held`).
    /// Not yet kept by the registrar thread ([`keep_after_thread_exit`] does that).
    fn finish(
        self,
        data: &'static DataFile,
        held: &cotrace_fork::SharedGuard<'_, crate::live::Words>,
    ) -> Result<Registration> {
        match self.result {
            Ok(write_index) => {
                let entry = Arc::new(Live::new(self.address, self.format, self.flags));
                crate::live::registered(held, entry.clone());
                Ok(Registration {
                    word: self.word,
                    data,
                    slot: AtomicU64::new(slot(self.current.generation, write_index)),
                    renewing: cotrace_fork::Lock::new(),
                    flags: self.flags,
                    multi_format: self.flags & sys::FLAG_MULTI_FORMAT != 0,
                    persist: self.options.persist,
                    stats: Stats::default(),
                    live: true,
                    kept: false,
                    entry,
                })
            }
            Err(Errno::ADDRINUSE) if held.get().contains(self.address) => Err(Error::WordInUse),
            Err(Errno::ADDRINUSE) => Err(Error::FormatConflict {
                name: self.format.name().to_owned(),
            }),
            Err(Errno::PERM) if self.options.persist => Err(Error::PersistNotPermitted),
            Err(errno) => Err(Error::Kernel {
                op: Op::Register,
                errno,
            }),
        }
    }
}

/// Registers the words of the `outcomes` just registered again from the registrar thread, in
/// one job (see [`crate::anchor`]), unless the calling thread's registrations are kept already;
/// sets each registration's `kept`: whether it outlives the calling thread.
fn keep_after_thread_exit(
    data: &'static DataFile,
    held: &cotrace_fork::SharedGuard<'_, crate::live::Words>,
    outcomes: &mut [Result<Registration>],
) {
    fn registered(
        outcomes: &mut [Result<Registration>],
    ) -> impl Iterator<Item = &mut Registration> {
        outcomes.iter_mut().filter_map(|o| o.as_mut().ok())
    }
    if crate::anchor::calling_thread_is_kept(held.process_tag()) {
        registered(outcomes).for_each(|reg| reg.kept = true);
        return;
    }
    let again: Vec<Arc<Live>> = registered(outcomes).map(|reg| reg.entry.clone()).collect();
    if again.is_empty() {
        return;
    }
    let kept = crate::anchor::on_registrar(move || {
        let Ok(current) = data.verified() else {
            return vec![false; again.len()];
        };
        again
            .iter()
            .map(|entry| {
                matches!(
                    register_word(
                        current.fd,
                        entry.address,
                        entry.format.as_c_str(),
                        entry.flags
                    ),
                    Ok(_) | Err(Errno::ADDRINUSE)
                )
            })
            .collect()
    });
    for (i, reg) in registered(outcomes).enumerate() {
        reg.kept = kept.as_ref().is_some_and(|kept| kept.get(i) == Some(&true));
    }
}

/// `DIAG_IOCSUNREG` of `address` on the calling thread's enabler group.
fn unregister_here(data: &'static DataFile, address: u64) -> Result<()> {
    // The descriptor is checked first: an ioctl must never reach an application's file.
    match data.verified() {
        Ok(current) => unregister_word(current.fd, address).map_err(|errno| Error::Kernel {
            op: Op::Unregister,
            errno,
        }),
        Err(why) => Err(Error::Unavailable(why)),
    }
}

/// `DIAG_IOCSREG` of `address` (bit 31, 4 bytes) for the event `name_args` with `flags`, on the
/// calling thread's enabler group: the kernel's write index.
pub(crate) fn register_word(
    fd: RawFd,
    address: u64,
    name_args: &CStr,
    flags: u16,
) -> core::result::Result<u32, Errno> {
    let mut reg = UserReg {
        size: core::mem::size_of::<UserReg>() as u32,
        enable_bit: KERNEL_BIT,
        enable_size: ENABLE_SIZE,
        flags,
        enable_addr: address,
        name_args: name_args.as_ptr() as u64,
        write_index: 0,
    };
    sys::ioctl_reg(fd, &mut reg).map(|()| reg.write_index)
}

/// `DIAG_IOCSUNREG` of `address` (bit 31) from the calling thread's enabler group.
fn unregister_word(fd: RawFd, address: u64) -> core::result::Result<(), Errno> {
    let unreg = UserUnreg {
        size: core::mem::size_of::<UserUnreg>() as u32,
        disable_bit: KERNEL_BIT,
        reserved: 0,
        reserved2: 0,
        disable_addr: address,
    };
    sys::ioctl_unreg(fd, &unreg)
}

impl Registration {
    /// Whether the registration outlives the thread that made it: the registrar thread holds it
    /// too (see [`register`]). False only if that thread could not be started (then ftrace and
    /// perf stop reaching this word when the registering thread, and every thread it started
    /// afterwards, have exited).
    pub fn outlives_registering_thread(&self) -> bool {
        self.kept
    }

    /// The registered word.
    pub fn word(&self) -> &'static EnableWord {
        self.word
    }

    /// The event's format.
    pub fn format(&self) -> &EventFormat {
        &self.entry.format
    }

    /// The event's name.
    pub fn name(&self) -> &str {
        self.entry.format.name()
    }

    /// The kernel's write index for this event (the first 4 bytes of every write). It changes
    /// when the registration is renewed on a fresh descriptor.
    pub fn write_index(&self) -> u32 {
        self.slot.load(Ordering::Acquire) as u32
    }

    /// The write index and the descriptor generation it belongs to.
    #[inline(always)]
    pub(crate) fn slot(&self) -> (u32, u32) {
        let v = self.slot.load(Ordering::Acquire);
        ((v >> 32) as u32, v as u32)
    }

    /// The process's descriptor.
    #[inline(always)]
    pub(crate) fn data(&self) -> &'static DataFile {
        self.data
    }

    /// Re-registers on `current` (a fresh descriptor) unless already done: the enabler made
    /// through the lost descriptor is removed (enablers belong to the process, not to a
    /// descriptor), then the event is registered again, which also writes the event's current
    /// state into bit 31. Never blocks: `Ok(false)` when another thread is doing it.
    #[cold]
    pub(crate) fn renew(&self, current: Current) -> core::result::Result<bool, Errno> {
        let Some(_guard) = self.renewing.try_lock() else {
            return Ok(false);
        };
        if self.slot().0 == current.generation {
            return Ok(true);
        }
        let address = self.word.kernel_address() as u64;
        let _ = unregister_word(current.fd, address);
        let write_index = register_word(current.fd, address, self.format().as_c_str(), self.flags)?;
        self.slot
            .store(slot(current.generation, write_index), Ordering::Release);
        Ok(true)
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
    /// [`Error::Kernel`] with the errno of `DIAG_IOCSUNREG`; [`Error::Unavailable`] when the
    /// application closed the process's descriptor and no fresh one can be opened.
    pub fn unregister(mut self) -> Result<()> {
        self.live = false;
        self.unregister_now()
    }

    fn unregister_now(&self) -> Result<()> {
        let address = self.word.kernel_address() as u64;
        let words = LIVE.lock();
        // The registrar's enabler, then the calling thread's (if it belongs to the group that
        // registered): either may be the one the kernel still has.
        let data = self.data;
        let by_registrar = if self.kept {
            crate::anchor::on_registrar(move || unregister_here(data, address))
        } else {
            None
        };
        // The thread that started the registrar shares its enabler group: once the registrar
        // removed the word's enabler there, a second `DIAG_IOCSUNREG` (and its descriptor
        // check) from this thread could only fail with `ENOENT`.
        let here = match by_registrar {
            Some(Ok(())) if crate::anchor::calling_thread_is_kept(words.process_tag()) => Ok(()),
            _ => unregister_here(self.data, address),
        };
        crate::live::unregistered(&words, &self.entry);
        match by_registrar {
            Some(Ok(())) => Ok(()),
            _ => here,
        }
    }
}

const fn slot(generation: u32, write_index: u32) -> u64 {
    ((generation as u64) << 32) | write_index as u64
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
    let fd = data.verified()?.fd;
    let deadline = Instant::now() + DELETE_RETRY_FOR;
    loop {
        match sys::ioctl_del(fd, &c_name) {
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

#[cfg(test)]
// fork, waitpid and _exit: test-only process control.
#[allow(unsafe_code)]
mod fork_tests {
    use super::*;
    use crate::format::FieldType;

    fn format(name: &str) -> EventFormat {
        EventFormat::new(name)
            .unwrap()
            .field("n", FieldType::U32)
            .unwrap()
    }

    /// A thread holds the registered words' lock (as registration does across `DIAG_IOCSREG`,
    /// which waits for the kernel's `event_mutex`) far longer than any bound a fork hook could
    /// wait; a child forked meanwhile registers a word and exits: it never waits for the
    /// holder, which does not exist in it. Needs user_events (scripts/test-kernel.sh runs the
    /// library's tests in the VM).
    #[test]
    #[cfg_attr(miri, ignore = "forks and makes syscalls Miri does not model")]
    fn a_child_registers_while_a_parent_thread_holds_the_words_for_long() {
        // In a process of its own: looking for user_events and registering open the process's
        // user_events descriptor, which other tests of this binary expect not to be open.
        // SAFETY: the harness runs `hold_and_fork` and leaves with _exit.
        let harness = unsafe { libc::fork() };
        assert!(harness >= 0);
        if harness == 0 {
            let code = hold_and_fork();
            // SAFETY: ends the harness without the test harness's exit handlers.
            unsafe { libc::_exit(code) };
        }
        let code = wait_within(harness, Duration::from_secs(60));
        if code == Some(UNAVAILABLE) {
            assert!(
                std::env::var("COTRACE_REQUIRE_USER_EVENTS").as_deref() != Ok("1"),
                "COTRACE_REQUIRE_USER_EVENTS=1 but user_events is unavailable"
            );
            // Past libtest's capture: a skip must be seen.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED a_child_registers_while_a_parent_thread_holds_the_words_for_long: \
                 user_events unavailable"
            );
            return;
        }
        assert_eq!(
            code,
            Some(0),
            "1: the child did not register and exit within 10 s; 2: it failed; None: hung"
        );
    }

    /// `hold_and_fork`'s code when there is no user_events here.
    const UNAVAILABLE: i32 = 100;

    /// A thread holds the lock 3 s; a child forked meanwhile registers: 0 if it did in time.
    fn hold_and_fork() -> i32 {
        if crate::availability().is_err() {
            return UNAVAILABLE;
        }
        let pid = std::process::id();
        static FIRST: EnableWord = EnableWord::new();
        let Ok(_first) = register(&FIRST, format(&format!("fork_hold_first_{pid}"))) else {
            return 4;
        };
        let (ready, is_ready) = std::sync::mpsc::channel();
        let holder = std::thread::spawn(move || {
            let _held = LIVE.lock();
            ready.send(()).unwrap();
            std::thread::sleep(Duration::from_secs(3));
        });
        is_ready.recv().unwrap();
        static CHILD: EnableWord = EnableWord::new();
        let child_format = format(&format!("fork_hold_child_{pid}"));
        // SAFETY: the child registers a word and leaves with _exit.
        let child = unsafe { libc::fork() };
        if child == 0 {
            let code = match register(&CHILD, child_format) {
                Ok(reg) => {
                    core::mem::forget(reg);
                    0
                }
                Err(_) => 3,
            };
            // SAFETY: ends the child without the harness's exit handlers.
            unsafe { libc::_exit(code) };
        }
        let code = wait_within(child, Duration::from_secs(10));
        holder.join().unwrap();
        match code {
            None => 1,
            Some(0) => 0,
            Some(_) => 2,
        }
    }

    /// Waits for `pid` at most `bound` (then kills it): its exit code, `None` if killed.
    fn wait_within(pid: libc::pid_t, bound: Duration) -> Option<i32> {
        let deadline = Instant::now() + bound;
        let mut status = 0;
        loop {
            // SAFETY: our own child; `status` is a valid out-pointer.
            if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
                return libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
            }
            if Instant::now() > deadline {
                // SAFETY: our own child, then reaped.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    libc::waitpid(pid, &mut status, 0);
                }
                return None;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}
