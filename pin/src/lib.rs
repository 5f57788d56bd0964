//! Keeping the loaded object that holds a word mapped for the rest of the process.
//!
//! A word handed to the kernel (or any address another party keeps: an event definition that
//! a lock-free list walks, a function that liblttng-ust's GOT or `pthread_atfork` calls) must
//! stay mapped while that party may use it. A `static` in the main program always is; a
//! `static` in a shared object that the application loads and later closes (a plugin) is
//! unmapped by `dlclose`, and the kernel would then set bit 31 in whatever is mapped there
//! next. [`pin_object_containing`] marks that object undeletable.
//!
//! Thread-local destructors registered by the object's code keep it loaded too (glibc's
//! `__cxa_thread_atexit_impl`), but only until their thread exits: not something to rely on.
//!
//! Used by both adapters: `cotrace-kernel` pins each word it registers with user_events, and
//! `cotrace-ust` each event definition, word and hook it hands to liblttng-ust.
//! On targets other than Linux there is nothing to do and [`pin_object_containing`] returns
//! `false`.

#[cfg(target_os = "linux")]
use core::sync::atomic::{AtomicUsize, Ordering};

/// Makes the shared object that contains `address` (only looked up, never dereferenced)
/// permanent: a later `dlclose` no longer unmaps it (`RTLD_NODELETE`). Returns whether it
/// pinned one; `false` for memory no object holds (the heap, a stack), which needs no pinning
/// to stay valid, and for the main program, which is never unloaded.
///
/// `dladdr` names the object, and `dlopen(name, RTLD_NOLOAD | RTLD_NODELETE)` marks the already
/// loaded object (it never loads anything; the reference it takes is kept on purpose). Each
/// object is marked once: later calls for it cost one `dladdr` and no system call. Memory no
/// object holds and the main program (found through `getauxval(AT_PHDR)`) are told first by
/// glibc's lock-free `_dl_find_object` (2.35+), without `dladdr`; where it is missing they
/// cost one `dladdr` too. `dladdr` takes the dynamic loader's lock, so this is not for a hot
/// path; it takes no lock of cotrace's, so a fork at any moment cannot leave one of ours held.
///
/// # Examples
///
/// ```
/// use cotrace_pin::pin_object_containing;
///
/// static WORD: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);
/// // A static of the main program: never unloaded, nothing to pin.
/// assert!(!pin_object_containing(WORD.as_ptr() as usize));
/// ```
#[cfg(target_os = "linux")]
pub fn pin_object_containing(address: usize) -> bool {
    // The common cases without `dladdr` (which takes the loader's lock and walks its list of
    // objects, ~0.5 % of a user_events registration in the VM): memory no object holds (a
    // leaked heap word) and the main program, told by glibc's lock-free `_dl_find_object`.
    match find_object(address) {
        Some(Found::Nowhere) => return false,
        Some(Found::In(start)) if start == main_program_start() => return false,
        _ => {}
    }
    let Some((base, name)) = object_of(address) else {
        return false;
    };
    if base == main_program_base() {
        return false;
    }
    if PINNED.iter().any(|p| p.load(Ordering::Relaxed) == base) {
        return true;
    }
    // SAFETY: `name` is the NUL-terminated file name dladdr returned, owned by the dynamic
    // loader and valid while the object is loaded (it is: it holds `address`, and nothing here
    // closes it). dlopen with RTLD_NOLOAD never loads anything: it finds the loaded object.
    let kept = unsafe {
        libc::dlopen(
            name,
            libc::RTLD_NOW | libc::RTLD_NOLOAD | libc::RTLD_NODELETE,
        )
    };
    if kept.is_null() {
        return false;
    }
    // Permanent now, so its load address can never name another object: remember it (a full
    // table only costs later calls a dlopen).
    let _ = PINNED.iter().any(|p| {
        p.compare_exchange(0, base, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    });
    true
}

/// Load addresses of the objects already pinned.
#[cfg(target_os = "linux")]
static PINNED: [AtomicUsize; 16] = [const { AtomicUsize::new(0) }; 16];

/// What `_dl_find_object` says of an address.
#[cfg(target_os = "linux")]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Found {
    /// No loaded object holds it.
    Nowhere,
    /// The object mapped from this address (`dlfo_map_start`) holds it.
    In(usize),
}

/// `struct dl_find_object` (glibc 2.35+, `<dlfcn.h>`): the leading fields read here, then
/// room to spare for the reserved ones and any glibc adds.
#[cfg(target_os = "linux")]
#[repr(C)]
struct DlFindObject {
    flags: u64,
    map_start: *mut libc::c_void,
    map_end: *mut libc::c_void,
    link_map: *mut libc::c_void,
    eh_frame: *mut libc::c_void,
    reserved: [u64; 27],
}

/// `int _dl_find_object(void *address, struct dl_find_object *result)`.
#[cfg(target_os = "linux")]
type FindObjectFn = unsafe extern "C" fn(*mut libc::c_void, *mut DlFindObject) -> libc::c_int;

/// glibc's `_dl_find_object` (lock-free, for unwinders), looked up once; `None` where the C
/// library has none (glibc before 2.35, musl).
#[cfg(target_os = "linux")]
fn find_object_fn() -> Option<FindObjectFn> {
    /// 0: not looked up yet; 1: absent; otherwise the function's address.
    static FN: AtomicUsize = AtomicUsize::new(0);
    let mut seen = FN.load(Ordering::Acquire);
    if seen == 0 {
        // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name only reads the loader's
        // tables. Racing threads store the same value.
        let found = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"_dl_find_object".as_ptr()) };
        seen = if found.is_null() { 1 } else { found as usize };
        FN.store(seen, Ordering::Release);
    }
    // SAFETY: a non-null address dlsym returned for `_dl_find_object`, whose C signature is
    // `FindObjectFn`'s.
    (seen != 1).then(|| unsafe { core::mem::transmute::<usize, FindObjectFn>(seen) })
}

/// Which loaded object holds `address`, by `_dl_find_object`; `None` if it is not available.
#[cfg(target_os = "linux")]
fn find_object(address: usize) -> Option<Found> {
    let find = find_object_fn()?;
    let mut result = core::mem::MaybeUninit::<DlFindObject>::zeroed();
    // SAFETY: `_dl_find_object` only reads the loader's tables and fills `result` (zeroed, and
    // larger than glibc's struct), the address is only looked up.
    let ret = unsafe { find(address as *mut libc::c_void, result.as_mut_ptr()) };
    if ret != 0 {
        return Some(Found::Nowhere);
    }
    // SAFETY: zero-initialised above and filled by `_dl_find_object`.
    let result = unsafe { result.assume_init() };
    Some(Found::In(result.map_start as usize))
}

/// Where the main program's mapping starts, by `_dl_find_object` (0 if it is not available).
#[cfg(target_os = "linux")]
fn main_program_start() -> usize {
    static START: AtomicUsize = AtomicUsize::new(0);
    match START.load(Ordering::Relaxed) {
        0 => {
            // Racing threads store the same value.
            let start = match find_object(main_program_headers()) {
                Some(Found::In(start)) => start,
                _ => usize::MAX,
            };
            START.store(start, Ordering::Relaxed);
            start
        }
        start => start,
    }
}

/// The load address and file name of the object that contains `address`, if any.
#[cfg(target_os = "linux")]
fn object_of(address: usize) -> Option<(usize, *const libc::c_char)> {
    let mut info = core::mem::MaybeUninit::<libc::Dl_info>::zeroed();
    // SAFETY: dladdr only reads the loader's tables and fills `info` (zeroed, so fully
    // initialised either way).
    let found = unsafe { libc::dladdr(address as *const libc::c_void, info.as_mut_ptr()) };
    // SAFETY: zero-initialised above and possibly filled by dladdr.
    let info = unsafe { info.assume_init() };
    // SAFETY: a non-null dli_fname is a NUL-terminated string owned by the loader.
    (found != 0 && !info.dli_fname.is_null() && unsafe { *info.dli_fname } != 0)
        .then_some((info.dli_fbase as usize, info.dli_fname))
}

/// The main program's load address, looked up once (0 until then, and if it cannot be).
#[cfg(target_os = "linux")]
fn main_program_base() -> usize {
    static BASE: AtomicUsize = AtomicUsize::new(0);
    match BASE.load(Ordering::Relaxed) {
        0 => {
            // Racing threads store the same value.
            let base = object_of(main_program_headers()).map_or(0, |(b, _)| b);
            BASE.store(base, Ordering::Relaxed);
            base
        }
        base => base,
    }
}

/// An address inside the main program: its program headers, from the auxiliary vector.
#[cfg(target_os = "linux")]
fn main_program_headers() -> usize {
    // SAFETY: getauxval only reads the auxiliary vector; 0 for an absent entry.
    unsafe { libc::getauxval(libc::AT_PHDR) as usize }
}

/// Not Linux: nothing is pinned.
#[cfg(not(target_os = "linux"))]
pub fn pin_object_containing(_address: usize) -> bool {
    false
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(miri, ignore)]
    fn heap_memory_is_left_alone() {
        let on_heap = Box::new(0u32);
        assert!(!pin_object_containing(&*on_heap as *const u32 as usize));
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn the_main_program_is_left_alone() {
        static IN_MAIN: u32 = 0;
        assert!(!pin_object_containing(&IN_MAIN as *const u32 as usize));
        assert!(!pin_object_containing(main_program_headers()));
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn a_shared_library_function_is_pinned() {
        // libc is a named, loaded object: pinning it succeeds (and changes nothing: it is
        // never unloaded anyway).
        assert!(pin_object_containing(libc::getpid as *const () as usize));
        // Again: from the table of pinned objects.
        assert!(pin_object_containing(libc::getppid as *const () as usize));
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn the_lock_free_lookup_agrees_with_dladdr() {
        // Where `_dl_find_object` exists (glibc 2.35+), its answers for the cases it settles
        // alone are dladdr's: the heap in no object, a static in the main program's mapping,
        // a libc function in another.
        let Some(_) = find_object_fn() else {
            return;
        };
        let on_heap = Box::new(0u32);
        let heap = &*on_heap as *const u32 as usize;
        assert_eq!(find_object(heap), Some(Found::Nowhere));
        assert!(object_of(heap).is_none());
        static IN_MAIN: u32 = 0;
        let main = main_program_start();
        assert_ne!(main, usize::MAX);
        assert_eq!(
            find_object(&IN_MAIN as *const u32 as usize),
            Some(Found::In(main))
        );
        assert_eq!(
            object_of(&IN_MAIN as *const u32 as usize).map(|(b, _)| b),
            Some(main_program_base())
        );
        let in_libc = libc::getpid as *const () as usize;
        assert!(matches!(find_object(in_libc), Some(Found::In(s)) if s != main));
        assert!(object_of(in_libc).is_some_and(|(b, _)| b != main_program_base()));
    }
}
