//! The output directory of `cotrace record`, safe for root in a directory others can write
//! (such as `/tmp`): cotrace creates it itself (`mkdir`, which fails on anything already there,
//! a symlink included), or accepts an existing one only if it is an empty real directory of
//! cotrace's user that nobody else can write; and creates its files relative to the directory's
//! descriptor with `O_EXCL | O_NOFOLLOW`, so no path component can be swapped for a symlink
//! after the checks.

use std::ffi::CString;
use std::fs;
use std::io::ErrorKind;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

/// An output directory cotrace created (or an empty one of its own), and its descriptor.
pub struct OutDir {
    /// Its absolute path (for `lttng create --output` and the messages).
    pub path: PathBuf,
    fd: OwnedFd,
}

impl OutDir {
    /// `-o DIR`: creates DIR (its parents as needed). An existing DIR is accepted only if it is
    /// an empty directory (not a symlink) owned by this user and not writable by group or
    /// others.
    pub fn create(dir: &Path) -> Result<Self, String> {
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        match fs::DirBuilder::new().mode(0o755).create(dir) {
            Ok(()) => Self::open(dir),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                let meta =
                    fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                let refuse = |why: &str| {
                    Err(format!(
                        "{} already exists and {why}: cotrace records only into a directory \
                         it creates itself (or an empty one of yours); choose a new -o DIR",
                        dir.display()
                    ))
                };
                if meta.file_type().is_symlink() {
                    return refuse("is a symbolic link");
                }
                if !meta.is_dir() {
                    return refuse("is not a directory");
                }
                if fs::read_dir(dir)
                    .map_err(|e| format!("{}: {e}", dir.display()))?
                    .next()
                    .is_some()
                {
                    return refuse("is not empty");
                }
                // SAFETY: geteuid has no preconditions and cannot fail.
                if meta.uid() != unsafe { libc::geteuid() } || meta.mode() & 0o022 != 0 {
                    return refuse("belongs to another user or others can write to it");
                }
                Self::open(dir)
            }
            Err(e) => Err(format!("cannot create {}: {e}", dir.display())),
        }
    }

    /// No `-o`: `cotrace-<unix seconds>` in the current directory, or `-2`, `-3`... after it
    /// when that name exists: created with `mkdir`, never reused, so a name prepared in advance
    /// (a guessable one, in a shared directory) is skipped, not followed.
    pub fn create_default() -> Result<Self, String> {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        for n in 1..=1000 {
            let name = if n == 1 {
                format!("cotrace-{secs}")
            } else {
                format!("cotrace-{secs}-{n}")
            };
            match fs::DirBuilder::new().mode(0o755).create(&name) {
                Ok(()) => return Self::open(Path::new(&name)),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(format!("cannot create {name}: {e}")),
            }
        }
        Err(format!(
            "cotrace-{secs} and 999 names after it exist here: pass -o DIR"
        ))
    }

    fn open(dir: &Path) -> Result<Self, String> {
        let c = CString::new(dir.as_os_str().as_bytes())
            .map_err(|_| format!("{}: a NUL byte in the path", dir.display()))?;
        // SAFETY: `c` is a NUL-terminated path that outlives the call; the flags ask for a
        // directory and refuse a final symlink.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(format!(
                "cannot open {}: {}",
                dir.display(),
                std::io::Error::last_os_error()
            ));
        }
        // SAFETY: `fd` was just opened and is owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let path = fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Self { path, fd })
    }

    /// Creates the new file `name` in the directory (`O_CREAT | O_EXCL | O_NOFOLLOW`, mode
    /// 0644): it fails if anything, a symlink included, already has that name.
    pub fn create_file(&self, name: &str) -> Result<fs::File, String> {
        let c = CString::new(name).map_err(|_| format!("{name}: a NUL byte in the name"))?;
        // SAFETY: `self.fd` is an open directory descriptor and `c` a NUL-terminated name, both
        // alive for the call.
        let fd = unsafe {
            libc::openat(
                self.fd.as_raw_fd(),
                c.as_ptr(),
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                0o644 as libc::c_uint,
            )
        };
        if fd < 0 {
            return Err(format!(
                "cannot create {}: {}",
                self.path.join(name).display(),
                std::io::Error::last_os_error()
            ));
        }
        // SAFETY: `fd` was just opened and is owned by nothing else.
        Ok(fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cotrace-out-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn refuses_what_it_did_not_create() {
        let base = scratch("refuse");
        let victim = base.join("victim");
        fs::write(&victim, "precious").unwrap();
        let full = base.join("full");
        fs::create_dir(&full).unwrap();
        std::os::unix::fs::symlink(&victim, full.join("timeline.txt")).unwrap();
        let err = OutDir::create(&full).err().unwrap();
        assert!(err.contains("is not empty"), "{err}");
        let link = base.join("link");
        std::os::unix::fs::symlink(&base, &link).unwrap();
        assert!(
            OutDir::create(&link)
                .err()
                .unwrap()
                .contains("symbolic link")
        );
        assert!(
            OutDir::create(&victim)
                .err()
                .unwrap()
                .contains("not a directory")
        );
        // A fresh one: files are created once, never through a symlink.
        let out = OutDir::create(&base.join("new/out")).unwrap();
        out.create_file("timeline.txt").unwrap();
        assert!(out.create_file("timeline.txt").is_err());
        std::os::unix::fs::symlink(&victim, out.path.join("kernel.txt")).unwrap();
        assert!(out.create_file("kernel.txt").is_err());
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        let _ = fs::remove_dir_all(&base);
    }
}
