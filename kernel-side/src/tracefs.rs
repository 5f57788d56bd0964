//! Finding tracefs and opening `user_events_data` once per process.

use std::ffi::CString;
use std::io::ErrorKind;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::errno::Errno;
use crate::error::Unavailable;
use crate::sys::{self, RawFd};

/// Where tracefs is usually mounted, in the order they are tried before `/proc/mounts`.
const CANDIDATES: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// The process's open `user_events_data`, with the tracefs directory it was found in.
#[derive(Debug)]
pub(crate) struct DataFile {
    pub(crate) fd: RawFd,
    pub(crate) tracefs: PathBuf,
}

static DATA_FILE: OnceLock<Result<DataFile, Unavailable>> = OnceLock::new();

/// The process-wide `user_events_data` descriptor, opened (O_RDWR | O_CLOEXEC) on first use.
///
/// The outcome is decided once per process: a later mount or permission change is not seen.
/// The descriptor is never closed (the kernel's enablers do not depend on it, and concurrent
/// writers may hold its number).
pub(crate) fn data_file() -> Result<&'static DataFile, &'static Unavailable> {
    DATA_FILE.get_or_init(open_data_file).as_ref()
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
    match sys::open_rdwr_cloexec(&c_path) {
        Ok(fd) => Ok(DataFile { fd, tracefs }),
        Err(Errno::NOENT) => Err(Unavailable::KernelWithoutUserEvents { tracefs }),
        Err(Errno::ACCESS | Errno::PERM) => Err(Unavailable::PermissionDenied { path }),
        Err(errno) => Err(Unavailable::OpenFailed { path, errno }),
    }
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
    fn unescapes_octal() {
        assert_eq!(unescape_mount_path("a\\040b\\011c"), "a b\tc");
        assert_eq!(unescape_mount_path("a\\04"), "a\\04");
    }
}
