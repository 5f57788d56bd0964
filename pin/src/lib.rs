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

/// Makes the loaded object (executable or shared object) that contains `address` (only looked
/// up, never dereferenced) permanent:
/// a later `dlclose` no longer unmaps it (`RTLD_NODELETE`). Returns whether `address` lies in
/// a named object, which is then pinned; `false` for memory no object holds (the heap, a
/// stack), which needs no pinning to stay valid, or the unnamed main program, which is never
/// unloaded.
///
/// `dladdr` names the object, and `dlopen(name, RTLD_NOLOAD | RTLD_NODELETE)` marks the already
/// loaded object (it never loads anything; calling it again is harmless; the reference it takes
/// is kept on purpose). It takes the dynamic loader's lock, so it is not for a hot path; it
/// takes no lock of cotrace's, so a fork at any moment cannot leave one of ours held.
///
/// # Examples
///
/// ```
/// use cotrace_pin::pin_object_containing;
///
/// static WORD: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);
/// // A static of the main program: never unloaded, nothing to pin (and nothing goes wrong).
/// pin_object_containing(WORD.as_ptr() as usize);
/// ```
#[cfg(target_os = "linux")]
pub fn pin_object_containing(address: usize) -> bool {
    // SAFETY: dladdr only reads the loader's tables and fills `info`; the file name it returns
    // is a NUL-terminated string owned by the dynamic loader, valid while the object is loaded
    // (it is: it holds `address`, and nothing here closes it). dlopen with RTLD_NOLOAD never
    // loads anything: it finds the already loaded object by that name.
    unsafe {
        let mut info: libc::Dl_info = core::mem::zeroed();
        if libc::dladdr(address as *const libc::c_void, &mut info) == 0
            || info.dli_fname.is_null()
            || *info.dli_fname == 0
        {
            return false;
        }
        let _kept = libc::dlopen(
            info.dli_fname,
            libc::RTLD_NOW | libc::RTLD_NOLOAD | libc::RTLD_NODELETE,
        );
        !_kept.is_null()
    }
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
    fn a_shared_library_function_is_pinned() {
        // libc is a named, loaded object: pinning it succeeds (and changes nothing: it is
        // never unloaded anyway).
        assert!(pin_object_containing(libc::getpid as *const () as usize));
    }
}
