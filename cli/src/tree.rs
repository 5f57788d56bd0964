//! CMD's process tree: which processes descend from CMD (or from the `-p` process), for a
//! scoped recording. LTTng's own process trackers cannot follow a fork without a race (a child
//! registers with the session daemon before anyone can track its pid), and ftrace's
//! `set_event_pid` patches probes into the scheduler's hot paths (which crashed the project's
//! TCG guest), so both tracers record the matching events of every process and the timeline and
//! counts keep those of the tree.
//!
//! The forks come from, in order of preference: the ftrace instance's `sched_process_fork`
//! records (exact); the kernel's process-events connector (netlink `CN_IDX_PROC`, root,
//! `CONFIG_PROC_EVENTS`; exact unless its socket overflowed); a scan of `/proc` every few
//! milliseconds (any user; a child that lives shorter than a scan can be missed).

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The processes reachable from `roots` through `(parent, child)` fork edges.
pub fn closure(roots: &[u32], edges: &[(u32, u32)]) -> BTreeSet<u32> {
    let mut set: BTreeSet<u32> = roots.iter().copied().collect();
    loop {
        let before = set.len();
        for &(parent, child) in edges {
            if set.contains(&parent) {
                set.insert(child);
            }
        }
        if set.len() == before {
            return set;
        }
    }
}

/// Scans of `/proc` (every 10 ms while recording): each adds to `edges` every `(ppid, pid)`
/// whose parent is in `tree`, and the child to `tree`. A process's parent is read once: the
/// processes found outside the tree are remembered with their parent until they exit (a parent
/// is fixed while its child lives, or the child is reparented to an ancestor of its parent), so
/// a scan reads `/proc` itself and the `stat` of new processes only, not of every process on
/// the machine every round.
#[derive(Default)]
pub struct ProcScan {
    /// Live processes outside the tree so far: pid -> parent.
    outside: HashMap<u32, u32>,
}

impl ProcScan {
    /// One scan.
    pub fn scan(&mut self, tree: &mut BTreeSet<u32>, edges: &mut Vec<(u32, u32)>) {
        let Ok(dir) = fs::read_dir("/proc") else {
            return;
        };
        let live: Vec<u32> = dir
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .collect();
        let mut outside = HashMap::with_capacity(live.len());
        let mut found: Vec<(u32, u32)> = live
            .into_iter()
            .filter(|pid| !tree.contains(pid))
            .filter_map(|pid| {
                let parent = match self.outside.get(&pid) {
                    Some(&parent) => parent,
                    None => {
                        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                        let after = &stat[stat.rfind(')')? + 1..];
                        after.split_whitespace().nth(1)?.parse().ok()?
                    }
                };
                Some((parent, pid))
            })
            .collect();
        // A grandchild may be listed before its parent.
        loop {
            let before = tree.len();
            found.retain(|&(parent, child)| {
                if tree.contains(&parent) {
                    tree.insert(child);
                    edges.push((parent, child));
                    false
                } else {
                    true
                }
            });
            if tree.len() == before {
                break;
            }
        }
        // What is still outside; the exited are forgotten (their pid may come back as another).
        outside.extend(found.into_iter().map(|(parent, pid)| (pid, parent)));
        self.outside = outside;
    }
}

const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
const PROC_CN_MCAST_LISTEN: u32 = 1;
const PROC_EVENT_FORK: u32 = 1;
/// `struct nlmsghdr` (16 bytes) + `struct cn_msg` (20 bytes).
const HEADERS: usize = 36;

/// The process-events connector: every fork on the machine, read by a thread until
/// [`Connector::finish`].
pub struct Connector {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(Vec<(u32, u32)>, bool)>,
}

impl Connector {
    /// Subscribes (root only: the kernel asks for CAP_NET_ADMIN).
    pub fn start() -> Result<Self, String> {
        let err = |what: &str| format!("{what}: {}", std::io::Error::last_os_error());
        // SAFETY: socket(2) with constant arguments; the result is checked.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                libc::NETLINK_CONNECTOR,
            )
        };
        if fd < 0 {
            return Err(err("netlink connector socket"));
        }
        // SAFETY: `fd` was just opened and is owned by nothing else.
        let sock = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: an all-zero sockaddr_nl is valid; the fields set are plain integers.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        addr.nl_groups = CN_IDX_PROC;
        // SAFETY: `addr` is a sockaddr_nl of the size passed, alive for the call.
        let r = unsafe {
            libc::bind(
                sock.as_raw_fd(),
                (&raw const addr).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(err("binding the netlink connector"));
        }
        let timeout = libc::timeval {
            tv_sec: 0,
            tv_usec: 50_000,
        };
        let rcvbuf: libc::c_int = 8 << 20;
        // SAFETY: setsockopt with option values of the sizes passed, alive for the calls.
        unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&raw const timeout).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            );
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                (&raw const rcvbuf).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        let mut msg = Vec::with_capacity(HEADERS + 4);
        let len = (HEADERS + 4) as u32;
        msg.extend_from_slice(&len.to_ne_bytes());
        msg.extend_from_slice(&(libc::NLMSG_DONE as u16).to_ne_bytes());
        msg.extend_from_slice(&0u16.to_ne_bytes()); // flags
        msg.extend_from_slice(&0u32.to_ne_bytes()); // seq
        msg.extend_from_slice(&std::process::id().to_ne_bytes());
        msg.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
        msg.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes()); // seq
        msg.extend_from_slice(&0u32.to_ne_bytes()); // ack
        msg.extend_from_slice(&4u16.to_ne_bytes()); // len
        msg.extend_from_slice(&0u16.to_ne_bytes()); // flags
        msg.extend_from_slice(&PROC_CN_MCAST_LISTEN.to_ne_bytes());
        // SAFETY: sends `msg`, alive for the call.
        let r = unsafe { libc::send(sock.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
        if r < 0 {
            return Err(err("subscribing to process events"));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            let (mut edges, mut overflow) = (Vec::new(), false);
            let mut buf = vec![0u8; 64 * 1024];
            let u32_at = |b: &[u8], at: usize| {
                b.get(at..at + 4)
                    .map(|s| u32::from_ne_bytes(s.try_into().unwrap_or_default()))
            };
            let mut stopping_since: Option<std::time::Instant> = None;
            loop {
                // Past the stop, drain what is queued, for at most 1 s on a busy machine.
                if stop2.load(Ordering::Acquire)
                    && stopping_since
                        .get_or_insert_with(std::time::Instant::now)
                        .elapsed()
                        > std::time::Duration::from_secs(1)
                {
                    break;
                }
                // SAFETY: receives into `buf`, alive and of the length passed.
                let n =
                    unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
                if n < 0 {
                    match std::io::Error::last_os_error().raw_os_error() {
                        Some(libc::ENOBUFS) => overflow = true,
                        Some(libc::EINTR) => {}
                        _ => {
                            if stop2.load(Ordering::Acquire) {
                                break;
                            }
                        }
                    }
                    continue;
                }
                // One message per datagram: headers, then `struct proc_event` (what, cpu,
                // timestamp, then for a fork: parent pid, parent tgid, child pid, child tgid).
                let b = &buf[..n as usize];
                if u32_at(b, HEADERS) == Some(PROC_EVENT_FORK) {
                    let at = HEADERS + 16;
                    if let (Some(parent), Some(child_pid), Some(child)) =
                        (u32_at(b, at + 4), u32_at(b, at + 8), u32_at(b, at + 12))
                    {
                        // A new process, not a new thread.
                        if child_pid == child && parent != child {
                            edges.push((parent, child));
                        }
                    }
                }
            }
            (edges, overflow)
        });
        Ok(Self { stop, thread })
    }

    /// Stops reading; returns the forks seen, and whether some were lost (socket overflow).
    pub fn finish(self) -> (Vec<(u32, u32)>, bool) {
        self.stop.store(true, Ordering::Release);
        self.thread.join().unwrap_or_default()
    }
}

/// `PERF_RECORD_FORK`.
const PERF_RECORD_FORK: u32 = 7;
/// `PERF_RECORD_LOST`.
const PERF_RECORD_LOST: u32 = 2;
/// Data pages per CPU (a power of two): 40 bytes a fork record, read every 10 ms.
const PERF_DATA_PAGES: usize = 2;

/// One CPU's perf ring buffer.
struct PerfBuffer {
    _fd: OwnedFd,
    base: *mut u8,
    len: usize,
    page: usize,
}

impl Drop for PerfBuffer {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` are the mapping made in `PerfForks::start`, unmapped once.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

/// Fork records from perf, for any user (as `perf record` follows a command's children): a
/// software dummy event on CMD, inherited by every process and thread it forks, one per CPU
/// (the kernel refuses to map an inherited per-task buffer), with `task` records on. Needs
/// `kernel.perf_event_paranoid` <= 2 (the kernel's default; some distributions set 3) or
/// CAP_PERFMON. Exact unless a buffer overflowed (then said).
pub struct PerfForks {
    cpus: Vec<PerfBuffer>,
    lost: bool,
}

impl PerfForks {
    /// Opens the event on `pid` (before it forks anything, to see every fork).
    pub fn start(pid: u32) -> Result<Self, String> {
        // struct perf_event_attr, PERF_ATTR_SIZE_VER0 (64 bytes), as u64 words.
        let mut attr = [0u64; 8];
        // type PERF_TYPE_SOFTWARE (1), size 64.
        attr[0] = 1 | (64 << 32);
        // config PERF_COUNT_SW_DUMMY.
        attr[1] = 9;
        // inherit, exclude_kernel, exclude_hv, task.
        attr[5] = (1 << 1) | (1 << 5) | (1 << 6) | (1 << 13);
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) })
            .map_err(|_| "no page size".to_string())?;
        // SAFETY: as above.
        let ncpu = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_CONF) }.max(1);
        let mut cpus = Vec::new();
        for cpu in 0..ncpu {
            // SAFETY: perf_event_open(2) reads the 64-byte attr, which outlives the call.
            let fd = unsafe {
                libc::syscall(
                    libc::SYS_perf_event_open,
                    attr.as_ptr(),
                    pid as libc::pid_t,
                    cpu as libc::c_int,
                    -1 as libc::c_int,
                    libc::c_ulong::from(8u8), // PERF_FLAG_FD_CLOEXEC
                )
            };
            if fd < 0 {
                let e = std::io::Error::last_os_error();
                // An offline CPU.
                if e.raw_os_error() == Some(libc::ENODEV) {
                    continue;
                }
                return Err(format!("perf_event_open: {e}"));
            }
            // SAFETY: `fd` was just opened and is owned by nothing else.
            let fd = unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) };
            let len = (1 + PERF_DATA_PAGES) * page;
            // SAFETY: maps the event's ring buffer (metadata page and data pages), shared and
            // writable (`data_tail` tells the kernel what was read).
            let base = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    fd.as_raw_fd(),
                    0,
                )
            };
            if base == libc::MAP_FAILED {
                return Err(format!("perf mmap: {}", std::io::Error::last_os_error()));
            }
            cpus.push(PerfBuffer {
                _fd: fd,
                base: base.cast(),
                len,
                page,
            });
        }
        if cpus.is_empty() {
            return Err("perf_event_open: no CPU".into());
        }
        Ok(Self { cpus, lost: false })
    }

    /// Adds the process forks recorded since the last call (`(parent, child)`) to `edges`.
    pub fn poll(&mut self, edges: &mut Vec<(u32, u32)>) {
        for b in &self.cpus {
            let size = PERF_DATA_PAGES * b.page;
            // SAFETY: `data_head` (offset 1024) and `data_tail` (1032) of the metadata page
            // this mapping starts with; the kernel writes the head, we write the tail.
            let (head_ptr, tail_ptr) = unsafe {
                (
                    b.base.add(1024).cast::<u64>(),
                    b.base.add(1032).cast::<u64>(),
                )
            };
            // SAFETY: as above, aligned u64s in the mapping.
            let head = unsafe { head_ptr.read_volatile() };
            std::sync::atomic::fence(Ordering::Acquire);
            // SAFETY: as above.
            let mut tail = unsafe { tail_ptr.read_volatile() };
            let byte = |pos: u64| -> u8 {
                // SAFETY: the data area follows the metadata page and is `size` bytes long.
                unsafe { b.base.add(b.page + (pos as usize % size)).read_volatile() }
            };
            let bytes =
                |pos: u64, n: usize| -> Vec<u8> { (0..n as u64).map(|i| byte(pos + i)).collect() };
            let u32_at =
                |v: &[u8], at: usize| u32::from_ne_bytes(v[at..at + 4].try_into().unwrap());
            while tail + 8 <= head {
                let header = bytes(tail, 8);
                let kind = u32_at(&header, 0);
                let len = u16::from_ne_bytes([header[6], header[7]]) as u64;
                if len < 8 {
                    break;
                }
                match kind {
                    PERF_RECORD_FORK => {
                        let r = bytes(tail + 8, 8);
                        let (pid, ppid) = (u32_at(&r, 0), u32_at(&r, 4));
                        if pid != ppid {
                            edges.push((ppid, pid));
                        }
                    }
                    PERF_RECORD_LOST => self.lost = true,
                    _ => {}
                }
                tail += len;
            }
            std::sync::atomic::fence(Ordering::Release);
            // SAFETY: as above.
            unsafe { tail_ptr.write_volatile(tail) };
        }
    }

    /// The last forks, and whether any record was lost (a buffer overflowed).
    pub fn finish(mut self, edges: &mut Vec<(u32, u32)>) -> bool {
        self.poll(edges);
        self.lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closure_follows_grandchildren() {
        let edges = [(1, 2), (7, 8), (2, 3), (3, 4), (9, 1)];
        assert_eq!(closure(&[1], &edges), BTreeSet::from([1, 2, 3, 4]));
        // Out of order: still found.
        assert_eq!(closure(&[1], &[(3, 4), (2, 3), (1, 2)]).len(), 4);
    }

    #[test]
    fn proc_scan_finds_a_child() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let me = std::process::id();
        let mut scan = ProcScan::default();
        // Not in the tree yet (its parent, this process, is not): remembered outside.
        let mut tree = BTreeSet::from([u32::MAX]);
        let mut edges = Vec::new();
        scan.scan(&mut tree, &mut edges);
        assert_eq!(scan.outside.get(&child.id()), Some(&me));
        assert!(!tree.contains(&child.id()) && edges.is_empty());
        // Its parent joins the tree: the child follows, from what the first scan read.
        tree.insert(me);
        scan.scan(&mut tree, &mut edges);
        assert!(tree.contains(&child.id()), "{tree:?}");
        assert!(edges.contains(&(me, child.id())));
        assert!(!scan.outside.contains_key(&child.id()));
        // A process that exits is forgotten (its pid may come back as another process's).
        let mut other = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let mut tree = BTreeSet::from([u32::MAX]);
        scan.scan(&mut tree, &mut edges);
        assert!(scan.outside.contains_key(&other.id()));
        let _ = other.kill();
        let _ = other.wait();
        scan.scan(&mut tree, &mut edges);
        assert!(!scan.outside.contains_key(&other.id()));
        let _ = child.kill();
        let _ = child.wait();
    }

    #[test]
    fn perf_sees_a_grandchild_that_lived_microseconds() {
        use std::io::Write;
        // Held until the event is open, then forks /bin/true (and it /bin/true) and waits.
        let mut child = std::process::Command::new("sh")
            .args([
                "-c",
                "read _; /bin/sh -c '/bin/true & wait' & wait; echo $!",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let forks = match PerfForks::start(child.id()) {
            Ok(f) => f,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                // Past libtest's capture, so that scripts/test.sh counts the skip.
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIPPED perf_sees_a_grandchild_that_lived_microseconds: {e}"
                );
                return;
            }
        };
        let child_pid = child.id();
        child.stdin.take().unwrap().write_all(b"go\n").unwrap();
        let out = child.wait_with_output().unwrap();
        let middle: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        let mut edges = Vec::new();
        assert!(!forks.finish(&mut edges));
        // The shell's child, and the child's own (a grandchild that lived microseconds).
        assert!(edges.contains(&(child_pid, middle)), "{edges:?}");
        assert!(edges.iter().any(|&(p, _)| p == middle), "{edges:?}");
    }
}
