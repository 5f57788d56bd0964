//! Every system call of this crate, and the user_events ABI they carry.
//!
//! Nothing else in the crate touches `libc`. The ABI (`include/uapi/linux/user_events.h`, Linux
//! 6.4+) is declared here because Debian 12's `linux-libc-dev` predates it; the ioctl numbers are
//! computed with the target's `_IOWR`/`_IOW` encoding (libc's, which knows powerpc/mips/sparc),
//! never written as literals.
#![allow(unsafe_code)]

use core::ffi::CStr;
use core::marker::PhantomData;
use core::mem::{MaybeUninit, size_of};

use crate::errno::Errno;

/// A file descriptor this crate owns for the life of the process.
pub(crate) type RawFd = libc::c_int;

/// `USER_EVENT_REG_PERSIST`: keep the event after its last registration goes (CAP_PERFMON).
pub(crate) const FLAG_PERSIST: u16 = 1 << 0;
/// `USER_EVENT_REG_MULTI_FORMAT`: allow several formats under one name (Linux 6.9+).
pub(crate) const FLAG_MULTI_FORMAT: u16 = 1 << 1;

/// `struct user_reg` (packed, 28 bytes).
#[repr(C, packed)]
#[derive(Clone, Copy, Default)]
pub(crate) struct UserReg {
    pub size: u32,
    pub enable_bit: u8,
    pub enable_size: u8,
    pub flags: u16,
    pub enable_addr: u64,
    pub name_args: u64,
    pub write_index: u32,
}

/// `struct user_unreg` (packed, 16 bytes).
#[repr(C, packed)]
#[derive(Clone, Copy, Default)]
pub(crate) struct UserUnreg {
    pub size: u32,
    pub disable_bit: u8,
    pub reserved: u8,
    pub reserved2: u16,
    pub disable_addr: u64,
}

const _: () = assert!(size_of::<UserReg>() == 28);
const _: () = assert!(size_of::<UserUnreg>() == 16);

/// The ioctl magic of user_events (`DIAG_IOC_MAGIC`).
const MAGIC: u32 = b'*' as u32;
/// `DIAG_IOCSREG = _IOWR('*', 0, struct user_reg *)`: the size field is that of a pointer.
pub(crate) const DIAG_IOCSREG: libc::Ioctl = libc::_IOWR::<*mut UserReg>(MAGIC, 0);
/// `DIAG_IOCSDEL = _IOW('*', 1, char *)`.
pub(crate) const DIAG_IOCSDEL: libc::Ioctl = libc::_IOW::<*mut libc::c_char>(MAGIC, 1);
/// `DIAG_IOCSUNREG = _IOW('*', 2, struct user_unreg *)`.
pub(crate) const DIAG_IOCSUNREG: libc::Ioctl = libc::_IOW::<*mut UserUnreg>(MAGIC, 2);

/// The errno of the last failed call on this thread, read right after the call.
fn last_errno() -> Errno {
    // SAFETY: __errno_location returns a valid pointer to this thread's errno for the life of
    // the thread; reading an int through it is always sound.
    Errno::from_raw(unsafe { *libc::__errno_location() })
}

/// Turns a `-1`-on-error return value into a `Result`, reading errno in one place.
fn check(ret: libc::c_int) -> Result<libc::c_int, Errno> {
    if ret < 0 { Err(last_errno()) } else { Ok(ret) }
}

/// `open(path, O_RDWR | O_CLOEXEC)`.
pub(crate) fn open_rdwr_cloexec(path: &CStr) -> Result<RawFd, Errno> {
    // SAFETY: `path` is a valid NUL-terminated string that outlives the call; open(2) with
    // these flags takes no third argument and does not retain the pointer.
    check(unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) })
}

/// What identifies an open file: `(st_dev, st_ino)` of `fstat`.
pub(crate) type Identity = (u64, u64);

/// `fstat(fd)`'s `(st_dev, st_ino)`: `EBADF` when `fd` is not open.
// `dev_t`/`ino_t` are u64 on 64-bit Linux but not on every target: the casts are not no-ops.
#[allow(clippy::unnecessary_cast)]
pub(crate) fn identity(fd: RawFd) -> Result<Identity, Errno> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat writes a whole `struct stat` to the valid out-pointer on success and
    // nothing is read from it otherwise; it does not retain the pointer.
    check(unsafe { libc::fstat(fd, st.as_mut_ptr()) })?;
    // SAFETY: fstat returned 0, so it initialised `st`.
    let st = unsafe { st.assume_init() };
    Ok((st.st_dev as u64, st.st_ino as u64))
}

/// `fcntl(fd, F_DUPFD_CLOEXEC, lowest)`: a close-on-exec copy of `fd` at the lowest free number
/// `>= lowest`.
pub(crate) fn dup_cloexec_at_least(fd: RawFd, lowest: RawFd) -> Result<RawFd, Errno> {
    // SAFETY: F_DUPFD_CLOEXEC takes an int argument and touches no memory of ours.
    check(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, lowest) })
}

/// `KCMP_FILE` of `include/uapi/linux/kcmp.h` (not in the libc crate).
const KCMP_FILE: libc::c_int = 0;

/// `kcmp(getpid(), getpid(), KCMP_FILE, a, b)`: whether descriptors `a` and `b` of this process
/// are one open file (one `struct file` of the kernel: one `open`, then `dup`s of it), which
/// `fstat` cannot tell from another `open` of the same path. `EBADF` when either is not open;
/// `ENOSYS` on kernels built without `CONFIG_KCMP` (distributions enable it, through
/// `CONFIG_CHECKPOINT_RESTORE`), `EPERM` where a seccomp policy refuses it.
///
/// `pid` must be this process's (`std::process::id()`, or the low half of a
/// `cotrace_fork::process_tag` just read): the caller passes it, as it often has it already
/// (`getpid` is a system call each time).
pub(crate) fn same_open_file(pid: u32, a: RawFd, b: RawFd) -> Result<bool, Errno> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| Errno::INVAL)?;
    // SAFETY: kcmp takes two pids, a type and two descriptor numbers, all passed by value; it
    // reads no memory of ours (KCMP_FILE has no pointer argument) and changes nothing.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_kcmp,
            pid,
            pid,
            KCMP_FILE,
            libc::c_ulong::from(a as u32),
            libc::c_ulong::from(b as u32),
        )
    };
    // 0: the same file; 1, 2: ordered by the kernel's pointers; 3: different, unordered.
    if ret < 0 {
        Err(last_errno())
    } else {
        Ok(ret == 0)
    }
}

/// `fcntl(fd, F_GETFD)`: the descriptor flags (`FD_CLOEXEC`).
#[cfg(test)]
pub(crate) fn descriptor_flags(fd: RawFd) -> Result<libc::c_int, Errno> {
    // SAFETY: F_GETFD takes no argument and touches no memory of ours.
    check(unsafe { libc::fcntl(fd, libc::F_GETFD) })
}

/// `close(fd)` of a descriptor this crate opened and no one else uses.
pub(crate) fn close(fd: RawFd) {
    // SAFETY: closing a descriptor owned by this crate (the caller's contract) cannot affect
    // memory safety; a failure leaves nothing to do.
    unsafe { libc::close(fd) };
}

/// The soft `RLIMIT_NOFILE`: descriptors of this process are below it.
#[allow(clippy::unnecessary_cast)] // `rlim_t` is not u64 on every target
pub(crate) fn open_files_soft_limit() -> Option<u64> {
    let mut limit = MaybeUninit::<libc::rlimit>::uninit();
    // SAFETY: getrlimit writes a `struct rlimit` to the valid out-pointer on success.
    check(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, limit.as_mut_ptr()) }).ok()?;
    // SAFETY: getrlimit returned 0, so it initialised `limit`.
    Some(unsafe { limit.assume_init() }.rlim_cur as u64)
}

/// `ioctl(fd, DIAG_IOCSREG, reg)`: registers; the kernel fills `reg.write_index`.
pub(crate) fn ioctl_reg(fd: RawFd, reg: &mut UserReg) -> Result<(), Errno> {
    // SAFETY: DIAG_IOCSREG reads and writes `reg.size` (28) bytes at the pointer, which is a
    // valid, exclusive `UserReg`. `reg.name_args` points to a NUL-terminated string the caller
    // keeps alive across the call (the kernel copies it); `enable_addr` is only stored by the
    // kernel, whose lifetime contract is enforced by `Registration` (`&'static EnableWord`).
    check(unsafe { libc::ioctl(fd, DIAG_IOCSREG, reg as *mut UserReg) }).map(drop)
}

/// `ioctl(fd, DIAG_IOCSUNREG, unreg)`: removes the enabler at (address, bit).
pub(crate) fn ioctl_unreg(fd: RawFd, unreg: &UserUnreg) -> Result<(), Errno> {
    // SAFETY: DIAG_IOCSUNREG only reads `unreg.size` (16) bytes from a valid `UserUnreg`.
    check(unsafe { libc::ioctl(fd, DIAG_IOCSUNREG, unreg as *const UserUnreg) }).map(drop)
}

/// `ioctl(fd, DIAG_IOCSDEL, name)`: deletes an event no one holds.
pub(crate) fn ioctl_del(fd: RawFd, name: &CStr) -> Result<(), Errno> {
    // SAFETY: DIAG_IOCSDEL reads a NUL-terminated string (copied by the kernel) from `name`,
    // which is valid for the duration of the call.
    check(unsafe { libc::ioctl(fd, DIAG_IOCSDEL, name.as_ptr()) }).map(drop)
}

/// A fixed-capacity array of `iovec`s on the stack, each borrowing data that lives for `'a`.
///
/// The write path's only buffer: it never allocates and never zeroes its capacity.
pub(crate) struct IoVecs<'a, const N: usize> {
    slots: [MaybeUninit<libc::iovec>; N],
    len: usize,
    _borrows: PhantomData<&'a [u8]>,
}

impl<'a, const N: usize> IoVecs<'a, N> {
    /// An empty array.
    #[inline(always)]
    pub(crate) fn new() -> Self {
        Self {
            slots: [const { MaybeUninit::uninit() }; N],
            len: 0,
            _borrows: PhantomData,
        }
    }

    /// Appends `data`; empty slices are skipped. Returns false (and appends nothing) when full.
    #[inline(always)]
    pub(crate) fn push(&mut self, data: &'a [u8]) -> bool {
        if data.is_empty() {
            return true;
        }
        let Some(slot) = self.slots.get_mut(self.len) else {
            return false;
        };
        slot.write(libc::iovec {
            iov_base: data.as_ptr() as *mut libc::c_void,
            iov_len: data.len(),
        });
        self.len += 1;
        true
    }

    /// The slices pushed so far, in order.
    pub(crate) fn slices(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.slots[..self.len].iter().map(|slot| {
            // SAFETY: the first `len` slots were initialised by `push` from a `&'a [u8]`, whose
            // pointer and length they hold unchanged.
            unsafe {
                let iov = slot.assume_init_ref();
                core::slice::from_raw_parts(iov.iov_base.cast::<u8>(), iov.iov_len)
            }
        })
    }

    /// `writev(fd, self)`: one system call; returns the bytes written.
    #[inline(always)]
    pub(crate) fn writev(&self, fd: RawFd) -> Result<usize, Errno> {
        // SAFETY: the first `self.len` slots were initialised by `push`, each pointing to a
        // slice borrowed for 'a, which outlives `self`; writev only reads them. `len` <= N,
        // which is far below IOV_MAX (1024) for every N this crate uses.
        let ret = unsafe {
            libc::writev(
                fd,
                self.slots.as_ptr().cast::<libc::iovec>(),
                self.len as libc::c_int,
            )
        };
        if ret < 0 {
            Err(last_errno())
        } else {
            Ok(ret as usize)
        }
    }
}

/// A fixed-capacity byte buffer on the stack that is never zeroed: only the written prefix is
/// ever read.
pub(crate) struct StackBuf<const N: usize> {
    bytes: [MaybeUninit<u8>; N],
    len: usize,
}

impl<const N: usize> StackBuf<N> {
    /// An empty buffer (no initialisation of its capacity).
    #[inline(always)]
    pub(crate) fn new() -> Self {
        Self {
            bytes: [const { MaybeUninit::uninit() }; N],
            len: 0,
        }
    }

    /// Free bytes left.
    #[inline(always)]
    pub(crate) fn remaining(&self) -> usize {
        N - self.len
    }

    /// Appends `data`; returns false (appending nothing) when it does not fit.
    #[inline(always)]
    pub(crate) fn push(&mut self, data: &[u8]) -> bool {
        if data.len() > self.remaining() {
            return false;
        }
        // SAFETY: `len + data.len() <= N` was checked above, so the destination range is
        // inside `bytes`; source and destination cannot overlap (`data` is a shared borrow,
        // `self` an exclusive one).
        unsafe {
            core::ptr::copy_nonoverlapping(
                data.as_ptr(),
                self.bytes.as_mut_ptr().add(self.len).cast::<u8>(),
                data.len(),
            );
        }
        self.len += data.len();
        true
    }

    /// Appends `n` zero bytes; returns false (appending nothing) when they do not fit.
    #[inline(always)]
    pub(crate) fn push_zeros(&mut self, n: usize) -> bool {
        if n > self.remaining() {
            return false;
        }
        for b in &mut self.bytes[self.len..self.len + n] {
            b.write(0);
        }
        self.len += n;
        true
    }

    /// The bytes written so far.
    #[inline(always)]
    pub(crate) fn as_slice(&self) -> &[u8] {
        // SAFETY: the first `len` bytes were initialised by `push`/`push_zeros`, and `len <= N`.
        unsafe { core::slice::from_raw_parts(self.bytes.as_ptr().cast::<u8>(), self.len) }
    }
}

#[cfg(test)]
// `libc::Ioctl` is u64 here but u32 on 32-bit targets: the casts are not always no-ops.
#[allow(clippy::unnecessary_cast)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn ioctl_numbers_match_the_x86_64_values() {
        // Values from <linux/user_events.h> compiled for x86_64 (asm-generic encoding).
        assert_eq!(DIAG_IOCSREG as u64, 0xC008_2A00);
        assert_eq!(DIAG_IOCSDEL as u64, 0x4008_2A01);
        assert_eq!(DIAG_IOCSUNREG as u64, 0x4008_2A02);
    }

    #[test]
    fn ioctl_numbers_carry_magic_number_and_pointer_size() {
        for (number, nr) in [(DIAG_IOCSREG, 0), (DIAG_IOCSDEL, 1), (DIAG_IOCSUNREG, 2)] {
            let number = number as u64;
            assert_eq!(number & 0xff, nr);
            assert_eq!((number >> 8) & 0xff, u64::from(b'*'));
            // The size field starts at bit 16 on every Linux encoding.
            let size = (number >> 16) & 0x1fff;
            assert_eq!(size, size_of::<usize>() as u64);
        }
    }

    #[test]
    fn abi_struct_offsets() {
        assert_eq!(core::mem::offset_of!(UserReg, enable_bit), 4);
        assert_eq!(core::mem::offset_of!(UserReg, flags), 6);
        assert_eq!(core::mem::offset_of!(UserReg, enable_addr), 8);
        assert_eq!(core::mem::offset_of!(UserReg, name_args), 16);
        assert_eq!(core::mem::offset_of!(UserReg, write_index), 24);
        assert_eq!(core::mem::offset_of!(UserUnreg, disable_addr), 8);
    }

    #[test]
    fn iovecs_skip_empty_slices_and_refuse_past_capacity() {
        let a = [1u8, 2];
        let mut v = IoVecs::<2>::new();
        assert!(v.push(&a));
        assert!(v.push(&[]));
        assert!(v.push(&a[..1]));
        assert!(!v.push(&a));
        assert_eq!(v.len, 2);
    }

    #[test]
    fn stack_buf_keeps_what_was_pushed_and_refuses_overflow() {
        let mut b = StackBuf::<8>::new();
        assert!(b.push(b"abc"));
        assert!(b.push_zeros(2));
        assert!(!b.push(b"wxyz"));
        assert!(!b.push_zeros(4));
        assert!(b.push(b"xyz"));
        assert_eq!(b.as_slice(), b"abc\0\0xyz");
        assert_eq!(b.remaining(), 0);
        assert!(b.push(b""));
    }

    #[test]
    #[cfg_attr(miri, ignore = "makes syscalls Miri does not model")]
    fn kcmp_tells_one_open_file_from_another_open_of_the_same_path() {
        use std::os::fd::AsRawFd;
        let a = std::fs::File::open("/dev/null").unwrap();
        let b = std::fs::File::open("/dev/null").unwrap();
        assert_eq!(identity(a.as_raw_fd()), identity(b.as_raw_fd()));
        let copy = dup_cloexec_at_least(a.as_raw_fd(), 0).unwrap();
        match same_open_file(std::process::id(), a.as_raw_fd(), copy) {
            Err(e) if e == Errno::from_raw(libc::ENOSYS) || e == Errno::PERM => {
                eprintln!("SKIPPED kcmp test: kcmp unavailable here ({e})");
            }
            same => {
                assert_eq!(same, Ok(true));
                assert_eq!(
                    same_open_file(std::process::id(), a.as_raw_fd(), b.as_raw_fd()),
                    Ok(false)
                );
                assert_eq!(
                    same_open_file(std::process::id(), a.as_raw_fd(), -1),
                    Err(Errno::BADF)
                );
            }
        }
        close(copy);
    }

    #[test]
    #[cfg_attr(miri, ignore = "makes syscalls Miri does not model")]
    fn writev_reaches_a_real_file_descriptor() {
        let mut fds = [0; 2];
        // SAFETY: pipe writes two fds into the 2-element array.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let (a, b) = (*b"ab", *b"cde");
        let mut v = IoVecs::<4>::new();
        v.push(&a);
        v.push(&b);
        assert_eq!(v.writev(fds[1]), Ok(5));
        let mut out = [0u8; 8];
        // SAFETY: reads at most 8 bytes into the 8-byte buffer.
        let n = unsafe { libc::read(fds[0], out.as_mut_ptr().cast(), out.len()) };
        assert_eq!(&out[..n as usize], b"abcde");
        // SAFETY: closes the two fds created above, once.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
        assert_eq!(v.writev(-1), Err(Errno::BADF));
    }
}
