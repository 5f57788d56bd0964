//! Finding tracefs and opening `user_events_data` once per process.

use std::ffi::{CStr, CString};
use std::fmt;
use std::io::ErrorKind;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::errno::Errno;
use crate::error::Unavailable;
use crate::sys::{self, RawFd};

/// Where tracefs is usually mounted, in the order they are tried before `/proc/mounts`.
const CANDIDATES: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// The process's `user_events_data` descriptor, with the tracefs directory it was found in.
///
/// # Never someone else's file
///
/// The descriptor is moved to a high number (with `F_DUPFD_CLOEXEC`, in the top quarter of the
/// numbers below `min(RLIMIT_NOFILE, 4096)`), where `open` and `dup` hand out numbers only when
/// every lower one is taken. An application may still close it (daemons close every
/// descriptor from 3 up): then a write fails (`EBADF`, or another error), and before such an
/// error is believed the descriptor is checked to still be *this open file*, not just the same
/// path: every open of `user_events_data` has the same `(st_dev, st_ino)`, and its write
/// indices are those of that one open. So a private duplicate of the descriptor, the *anchor*,
/// is kept at a second high number, and the check is `kcmp(KCMP_FILE)` of the two (one
/// `struct file`); where kcmp is refused (`ENOSYS`, `EPERM`), both numbers must still be
/// `user_events_data` (`fstat`).
///
/// Both numbers are this copy's own: derived from this crate's name and version
/// ([`copy_offset`]), so that two copies in one process (two semver-incompatible versions, or a
/// copy built under another name) use different numbers, and one copy's reopen never lands on
/// the number another copy still writes its indices to: after the application closed both,
/// that number stays closed until the other copy notices (its write fails, it renews itself)
/// instead of taking the first copy's file and recording its payloads as the first copy's
/// events. If a copy's number is taken by another open of `user_events_data` all the same,
/// an error from it is not believed: kcmp against the anchor tells.
///
/// When the number is no longer this file, nothing more is ever sent to it: a fresh
/// descriptor is opened (at a different number when possible), the generation is bumped, and
/// each registration re-registers itself on it before its next write (see
/// [`Registration`](crate::Registration)). When no fresh descriptor can be had (permissions
/// dropped, no descriptors left), the descriptor is *lost*: writes are dropped (counted), the
/// reason is kept for [`descriptor_status`], and reopening is retried at most once a second
/// while an event is enabled.
pub(crate) struct DataFile {
    pub(crate) tracefs: PathBuf,
    path: CString,
    /// `(st_dev, st_ino)` of the file: every open of `user_events_data` has it.
    identity: (AtomicU64, AtomicU64),
    /// A private duplicate of the current descriptor (the same open file), to tell it from
    /// another open of the same file; `-1` if none could be made (then only `identity` is
    /// checked). Stored before `current`, so a reader of a new `current` sees its anchor.
    anchor: AtomicI32,
    /// `generation << 32 | fd as u32`; fd `-1` while lost.
    current: AtomicU64,
    /// Serialises reopening; a child forked meanwhile takes it over ([`cotrace_fork`]).
    renewal: cotrace_fork::Shared<Renewal>,
}

/// What happened to the descriptor (under [`DataFile::renewal`]).
#[derive(Clone, Debug, Default)]
pub(crate) struct Renewal {
    reopened: u32,
    lost: Option<Unavailable>,
    last_attempt: Option<Instant>,
}

/// The descriptor to use now and its generation (registrations made on another generation
/// must re-register before writing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Current {
    pub(crate) fd: RawFd,
    pub(crate) generation: u32,
}

/// Highest descriptor number used: keeps the kernel's descriptor table small (4096 entries).
const HIGH_FD_CAP: u64 = 4096;
/// While lost, reopening is tried at most this often.
const RETRY_EVERY: Duration = Duration::from_secs(1);

const fn pack(fd: RawFd, generation: u32) -> u64 {
    ((generation as u64) << 32) | fd as u32 as u64
}

impl DataFile {
    /// The descriptor and generation now: one atomic load.
    #[inline(always)]
    pub(crate) fn current(&self) -> Current {
        let v = self.current.load(Ordering::Acquire);
        Current {
            fd: v as u32 as RawFd,
            generation: (v >> 32) as u32,
        }
    }

    /// Whether `fd` is (still) this open file: one `kcmp` against the anchor, or where kcmp is
    /// refused, `fstat` of both (see [`DataFile`]).
    pub(crate) fn is_ours(&self, fd: RawFd) -> bool {
        self.is_ours_in(std::process::id(), fd)
    }

    /// [`is_ours`](Self::is_ours) for a caller that knows its pid (`pid` must be this
    /// process's): one `getpid` fewer.
    fn is_ours_in(&self, pid: u32, fd: RawFd) -> bool {
        if fd < 0 {
            return false;
        }
        let anchor = self.anchor.load(Ordering::Acquire);
        if anchor >= 0 {
            match sys::same_open_file(pid, fd, anchor) {
                Ok(same) => return same,
                // One of the two is closed: the application closed them.
                Err(Errno::BADF) => return false,
                // No kcmp here (ENOSYS, EPERM): by inode, below.
                Err(_) => {}
            }
        }
        let id = (
            self.identity.0.load(Ordering::Relaxed),
            self.identity.1.load(Ordering::Relaxed),
        );
        sys::identity(fd) == Ok(id) && (anchor < 0 || sys::identity(anchor) == Ok(id))
    }

    /// For the slow paths (register, unregister, delete, status): the current descriptor after
    /// checking its identity, reopening it if it is not ours (at once, not rate-limited).
    pub(crate) fn verified(&self) -> Result<Current, Unavailable> {
        let renewal = self.renewal.lock();
        let current = self.current();
        // The pid the lock was just taken with (the low half of its process tag).
        if self.is_ours_in(renewal.process_tag() as u32, current.fd) {
            return Ok(current);
        }
        self.reopen(&renewal, current)
    }

    /// For the write path, after `seen` failed or was stale: a descriptor that is ours, or
    /// `None` (another thread is renewing, or the descriptor is lost and a retry is not due).
    /// Never blocks.
    #[cold]
    pub(crate) fn renew(&self, seen: Current) -> Option<Current> {
        let renewal = self.renewal.try_lock()?;
        let current = self.current();
        if current.fd >= 0 && (current.generation != seen.generation || self.is_ours(current.fd)) {
            return Some(current);
        }
        let seen = renewal.get();
        if seen.lost.is_some() && seen.last_attempt.is_some_and(|t| t.elapsed() < RETRY_EVERY) {
            return None;
        }
        self.reopen(&renewal, current).ok()
    }

    /// Opens a fresh descriptor, replacing `old` (which is not ours any more and is never
    /// touched again, nor is its anchor: either number may be someone else's file now), and
    /// bumps the generation; on failure marks the descriptor lost.
    fn reopen(
        &self,
        held: &cotrace_fork::SharedGuard<'_, Renewal>,
        old: Current,
    ) -> Result<Current, Unavailable> {
        let mut renewal = (*held.get()).clone();
        renewal.last_attempt = Some(Instant::now());
        let generation = old.generation.wrapping_add(1);
        match open_identified(&self.path, &self.tracefs, old.fd) {
            Ok(Opened {
                fd,
                anchor,
                identity: (dev, ino),
            }) => {
                self.identity.0.store(dev, Ordering::Relaxed);
                self.identity.1.store(ino, Ordering::Relaxed);
                self.anchor.store(anchor, Ordering::Release);
                self.current.store(pack(fd, generation), Ordering::Release);
                renewal.reopened += 1;
                renewal.lost = None;
                held.publish(renewal);
                Ok(Current { fd, generation })
            }
            Err(why) => {
                self.current.store(pack(-1, generation), Ordering::Release);
                renewal.lost = Some(why.clone());
                held.publish(renewal);
                Err(why)
            }
        }
    }

    fn status(&self) -> DescriptorStatus {
        let verified = self.verified();
        let renewal = self.renewal.load();
        DescriptorStatus {
            fd: verified.ok().map(|c| c.fd),
            reopened: renewal.reopened,
            lost: renewal.lost.clone(),
        }
    }
}

impl fmt::Debug for DataFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataFile")
            .field("tracefs", &self.tracefs)
            .field("current", &self.current())
            .finish_non_exhaustive()
    }
}

/// The state of this process's `user_events_data` descriptor: see [`descriptor_status`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DescriptorStatus {
    /// The descriptor's number now; `None` while it is lost.
    pub fd: Option<i32>,
    /// How many times it was found closed (or replaced by another file) and reopened.
    pub reopened: u32,
    /// Why it could not be reopened the last time it was found gone; `None` while it is open.
    pub lost: Option<Unavailable>,
}

impl fmt::Display for DescriptorStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.lost, self.fd) {
            (Some(_), _) | (None, None) => {
                write!(
                    f,
                    "the user_events descriptor was closed by the application and could not \
                     be reopened"
                )?;
                if let Some(why) = &self.lost {
                    write!(f, " ({why})")?;
                }
                write!(
                    f,
                    "; kernel events are dropped (counted per event) until it can be: it is \
                     retried at most once a second while an event is enabled, and \
                     cotrace_kernel::descriptor_status() retries at once. To keep it, do not \
                     close cotrace's descriptor when closing descriptors (it is close-on-exec)"
                )
            }
            (None, Some(fd)) if self.reopened > 0 => write!(
                f,
                "descriptor {fd}, reopened {} time(s) after the application closed it \
                 (events re-registered on it)",
                self.reopened
            ),
            (None, Some(fd)) => write!(f, "descriptor {fd}"),
        }
    }
}

static DATA_FILE: OnceLock<Result<DataFile, Unavailable>> = OnceLock::new();

/// The process-wide `user_events_data`, opened (O_RDWR | O_CLOEXEC, then moved to a high
/// number) on first use.
///
/// Whether user_events is usable is decided once per process: a later mount or permission
/// change is not seen. The descriptor is never closed by this crate; if the application closes
/// it, it is replaced (see [`DataFile`]).
pub(crate) fn data_file() -> Result<&'static DataFile, &'static Unavailable> {
    if let Some(opened) = DATA_FILE.get() {
        return opened.as_ref();
    }
    // Opened outside the cell, then stored: `get_or_init` would keep the cell "being
    // initialized" for the whole discovery, and a child forked meanwhile would wait for ever
    // for a thread that does not exist there. Two threads racing here both open; the loser's
    // descriptor is closed.
    if let Err(Ok(lost)) = DATA_FILE.set(open_data_file()) {
        sys::close(lost.current().fd);
        let anchor = lost.anchor.load(Ordering::Relaxed);
        if anchor >= 0 {
            sys::close(anchor);
        }
    }
    DATA_FILE.get().expect("set above").as_ref()
}

/// The process-wide `user_events_data` if it was already opened; never opens it (for the fork
/// handlers, which must not do file-system work).
pub(crate) fn data_file_if_open() -> Option<&'static DataFile> {
    DATA_FILE.get().and_then(|opened| opened.as_ref().ok())
}

/// The state of this process's `user_events_data` descriptor, after checking that it is still
/// the file this crate opened (and reopening it at once if the application closed it).
///
/// # Errors
///
/// [`Unavailable`] when user_events cannot be used here at all (see [`availability`]).
///
/// # Examples
///
/// ```
/// match cotrace_kernel::descriptor_status() {
///     Ok(status) if status.lost.is_some() => eprintln!("kernel events lost: {status}"),
///     Ok(status) => println!("{status}"),
///     Err(why) => println!("no user_events: {why}"),
/// }
/// ```
pub fn descriptor_status() -> Result<DescriptorStatus, Unavailable> {
    data_file().map(DataFile::status).map_err(Clone::clone)
}

/// Whether user_events can be used by this process: `Ok(tracefs directory)` or why not.
///
/// Opens the process's `user_events_data` descriptor if it is not open yet, so the answer is
/// the one registrations will get. Never panics.
///
/// # Examples
///
/// ```
/// match cotrace_kernel::availability() {
///     Ok(tracefs) => println!("user_events ready under {}", tracefs.display()),
///     Err(why) => println!("kernel tracing off: {why}"),
/// }
/// ```
pub fn availability() -> Result<&'static Path, Unavailable> {
    data_file()
        .map(|d| d.tracefs.as_path())
        .map_err(Clone::clone)
}

/// The mounted tracefs directory, if any, found as [`availability`] finds it (without opening
/// anything). For tools and tests that read `trace` or write `enable` files.
pub fn tracefs_dir() -> Option<PathBuf> {
    find_tracefs().ok()
}

fn open_data_file() -> Result<DataFile, Unavailable> {
    let tracefs = find_tracefs()?;
    let path = tracefs.join("user_events_data");
    let c_path =
        CString::new(path.as_os_str().as_bytes()).map_err(|_| Unavailable::OpenFailed {
            path: path.clone(),
            errno: Errno::INVAL,
        })?;
    let Opened {
        fd,
        anchor,
        identity: (dev, ino),
    } = open_identified(&c_path, &tracefs, -1)?;
    Ok(DataFile {
        tracefs,
        path: c_path,
        identity: (AtomicU64::new(dev), AtomicU64::new(ino)),
        anchor: AtomicI32::new(anchor),
        current: AtomicU64::new(pack(fd, 0)),
        renewal: cotrace_fork::Shared::new(),
    })
}

/// A freshly opened `user_events_data`: the descriptor, its anchor (`-1`: none) and identity.
struct Opened {
    fd: RawFd,
    anchor: RawFd,
    identity: sys::Identity,
}

/// Opens `user_events_data` at this copy's high number other than `avoid`, with its anchor.
fn open_identified(c_path: &CStr, tracefs: &Path, avoid: RawFd) -> Result<Opened, Unavailable> {
    let fd = open_placed(c_path, tracefs, avoid)?;
    match sys::identity(fd) {
        Ok(identity) => Ok(Opened {
            fd,
            anchor: make_anchor(fd),
            identity,
        }),
        Err(errno) => {
            sys::close(fd);
            Err(Unavailable::OpenFailed {
                path: tracefs.join("user_events_data"),
                errno,
            })
        }
    }
}

/// Opens `user_events_data` and moves it to a high number other than `avoid`.
fn open_placed(c_path: &CStr, tracefs: &Path, avoid: RawFd) -> Result<RawFd, Unavailable> {
    let path = || tracefs.join("user_events_data");
    match sys::open_rdwr_cloexec(c_path) {
        Ok(fd) => Ok(move_high(fd, avoid)),
        Err(Errno::NOENT) => Err(Unavailable::KernelWithoutUserEvents {
            tracefs: tracefs.to_path_buf(),
        }),
        Err(Errno::ACCESS | Errno::PERM) => Err(Unavailable::PermissionDenied { path: path() }),
        Err(errno) => Err(Unavailable::OpenFailed {
            path: path(),
            errno,
        }),
    }
}

/// The highest descriptor number used: `min(RLIMIT_NOFILE, 4096) - 1`.
fn top_number() -> Option<RawFd> {
    let limit = sys::open_files_soft_limit()?;
    RawFd::try_from(limit.min(HIGH_FD_CAP)).ok().map(|n| n - 1)
}

/// This copy's place among `span` slots 4 numbers apart: an FNV-1a hash of this crate's name
/// and version, so that two copies in one process (semver-incompatible versions, or a renamed
/// copy) place their descriptors at different numbers, with room between them for a reopen to
/// move up by one (the same numbers only if their hashes collide, about 1 in `span`, and then
/// in every run: never by chance). Two copies of one version (one in each of two shared objects)
/// share their numbers; kcmp still tells their files apart after an error.
fn copy_offset(span: RawFd) -> RawFd {
    const ID: &str = concat!(env!("CARGO_PKG_NAME"), " ", env!("CARGO_PKG_VERSION"));
    let hash = ID.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    4 * (hash % u64::from(span.max(1).unsigned_abs())) as RawFd
}

/// Moves `fd` to this copy's number in the top quarter below `min(RLIMIT_NOFILE, 4096)` (or
/// the first free one above it, or near half of it) that is not `avoid`; keeps `fd` where it
/// is when that fails.
fn move_high(fd: RawFd, avoid: RawFd) -> RawFd {
    let Some(top) = top_number() else {
        return fd;
    };
    for lowest in [top - copy_offset(top / 16), top / 2] {
        if lowest <= fd {
            break;
        }
        if let Some(high) = dup_at_least_avoiding(fd, lowest, avoid) {
            sys::close(fd);
            return high;
        }
    }
    fd
}

/// The anchor of `fd` (see [`DataFile`]): a duplicate at this copy's number in the second
/// quarter below `min(RLIMIT_NOFILE, 4096)`, or the first free one above it; `-1` when none can
/// be had (or the limit is too low for a number above the standard streams).
fn make_anchor(fd: RawFd) -> RawFd {
    let Some(top) = top_number() else {
        return -1;
    };
    let lowest = top / 2 - copy_offset(top / 16);
    if lowest <= 2 {
        return -1;
    }
    dup_at_least_avoiding(fd, lowest, -1).unwrap_or(-1)
}

/// A close-on-exec copy of `fd` at the lowest free number `>= lowest` other than `avoid`.
fn dup_at_least_avoiding(fd: RawFd, lowest: RawFd, avoid: RawFd) -> Option<RawFd> {
    let first = sys::dup_cloexec_at_least(fd, lowest).ok()?;
    if first != avoid {
        return Some(first);
    }
    // `avoid` was the first free number: hold it while taking the next one, then free it.
    let next = sys::dup_cloexec_at_least(fd, lowest).ok();
    sys::close(first);
    next
}

/// A directory is a mounted tracefs when its `trace` file exists.
fn find_tracefs() -> Result<PathBuf, Unavailable> {
    let mut denied = None;
    for dir in CANDIDATES {
        let dir = Path::new(dir);
        match std::fs::metadata(dir.join("trace")) {
            Ok(_) => return Ok(dir.to_path_buf()),
            Err(e) if e.kind() == ErrorKind::PermissionDenied => {
                denied.get_or_insert(dir.to_path_buf());
            }
            Err(_) => {}
        }
    }
    if let Ok(mounts) = std::fs::read_to_string("/proc/mounts") {
        if let Some(dir) = tracefs_in_mounts(&mounts) {
            if std::fs::metadata(dir.join("trace")).is_ok() {
                return Ok(dir);
            }
            denied.get_or_insert(dir);
        }
    }
    if let Some(path) = denied {
        return Err(Unavailable::PermissionDenied { path });
    }
    match std::fs::read_to_string("/proc/filesystems") {
        Ok(fs)
            if !fs
                .lines()
                .any(|l| l.split_whitespace().any(|w| w == "tracefs")) =>
        {
            Err(Unavailable::KernelWithoutTracefs)
        }
        _ => match kernel_lacks_user_events() {
            Some(evidence) => Err(Unavailable::KernelWithoutUserEventsUnmounted { evidence }),
            None => Err(Unavailable::TracefsNotMounted),
        },
    }
}

/// With tracefs unmounted, whether the running kernel visibly lacks user_events: its build
/// config says so (`/boot/config-<release>`), or its symbols (`/proc/kallsyms`, names are
/// readable by anyone) have no `user_events_ioctl`. `None` when it has it or nothing tells.
fn kernel_lacks_user_events() -> Option<String> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let config = format!("/boot/config-{}", release.trim());
    if let Ok(text) = std::fs::read_to_string(&config) {
        if text.lines().any(|l| l == "CONFIG_USER_EVENTS=y") {
            return None;
        }
        if text.lines().any(|l| l == "# CONFIG_USER_EVENTS is not set") {
            return Some(format!("{config}: CONFIG_USER_EVENTS is not set"));
        }
    }
    // One read of ~5 MB of text (the kernel takes ~35 ms to produce it), once per process and
    // only on this failure path.
    let symbols = std::fs::read_to_string("/proc/kallsyms").ok()?;
    if symbols.contains(" user_events_ioctl\n") {
        return None;
    }
    (!symbols.is_empty()).then(|| "/proc/kallsyms has no user_events_ioctl".to_owned())
}

/// The mount point of the first tracefs line of a `/proc/mounts` text (octal escapes decoded).
fn tracefs_in_mounts(mounts: &str) -> Option<PathBuf> {
    mounts.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        let (_source, target, fstype) = (words.next()?, words.next()?, words.next()?);
        (fstype == "tracefs").then(|| PathBuf::from(unescape_mount_path(target)))
    })
}

/// Decodes `\040`-style octal escapes of `/proc/mounts`.
fn unescape_mount_path(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 4 <= bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let v = bytes[i + 1..i + 4]
                .iter()
                .fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
            out.push(v as u8);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(miri, ignore = "makes syscalls Miri does not model")]
    fn finds_tracefs_in_proc_mounts() {
        let mounts = "proc /proc proc rw 0 0\n\
                      none /mnt/my\\040trace tracefs rw,relatime 0 0\n\
                      tracefs /sys/kernel/tracing tracefs rw 0 0\n";
        assert_eq!(
            tracefs_in_mounts(mounts),
            Some(PathBuf::from("/mnt/my trace"))
        );
        assert_eq!(tracefs_in_mounts("proc /proc proc rw 0 0\n"), None);
    }

    #[test]
    #[cfg_attr(miri, ignore = "makes syscalls Miri does not model")]
    fn descriptors_move_high_close_on_exec_and_avoid_a_number() {
        use std::os::fd::IntoRawFd;
        let fd = std::fs::File::open("/dev/null").unwrap().into_raw_fd();
        let top = top_number().unwrap();
        let high = move_high(fd, -1);
        assert_eq!(
            high,
            top - copy_offset(top / 16),
            "moved to this copy's number below min(RLIMIT_NOFILE, 4096)"
        );
        assert!(
            high > top - top / 4,
            "{high} in the top quarter below {top}"
        );
        assert_eq!(
            sys::identity(fd),
            Err(Errno::BADF),
            "the low copy is closed"
        );
        let flags = sys::descriptor_flags(high).unwrap();
        assert_eq!(flags & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
        // A replacement avoids the number it replaces.
        let fd = std::fs::File::open("/dev/null").unwrap().into_raw_fd();
        sys::close(high);
        let other = move_high(fd, high);
        assert!(other != high && other > fd, "{other}");
        // The anchor: the same open file at another high number.
        let anchor = make_anchor(other);
        assert!(anchor > top / 4 && anchor <= top / 2, "{anchor}");
        assert_eq!(sys::identity(anchor), sys::identity(other));
        sys::close(anchor);
        sys::close(other);
    }

    #[test]
    fn a_lost_descriptor_says_why_and_how_to_recover() {
        let lost = DescriptorStatus {
            fd: None,
            reopened: 0,
            lost: Some(Unavailable::PermissionDenied {
                path: "/sys/kernel/tracing/user_events_data".into(),
            }),
        };
        let text = lost.to_string();
        for part in [
            "closed by the application",
            "could not be reopened",
            "permission denied",
            "dropped",
            "retried",
            "do not close",
        ] {
            assert!(text.contains(part), "{part:?} missing: {text}");
        }
        let fine = DescriptorStatus {
            fd: Some(4095),
            reopened: 2,
            lost: None,
        };
        assert_eq!(
            fine.to_string(),
            "descriptor 4095, reopened 2 time(s) after the application closed it (events \
             re-registered on it)"
        );
    }

    #[test]
    fn unescapes_octal() {
        assert_eq!(unescape_mount_path("a\\040b\\011c"), "a b\tc");
        assert_eq!(unescape_mount_path("a\\04"), "a\\04");
    }
}
