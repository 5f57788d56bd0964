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
/// object is marked once: later calls for it, and every call for the main program (found
/// through `getauxval(AT_PHDR)`), cost one `dladdr` and no system call. It takes the dynamic
/// loader's lock, so it is not for a hot path; it takes no lock of cotrace's, so a fork at any
/// moment cannot leave one of ours held.
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
}
