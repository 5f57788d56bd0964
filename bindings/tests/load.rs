//! The generated function table and the hand-declared hidden functions resolve against the
//! installed liblttng-ust (this machine's LTTng-UST 2.13; the CI installs it).

use cotrace_lttng_sys::{LIBLTTNG_UST_SONAME, LttngUst, hidden::Hidden};

#[test]
fn every_declared_function_resolves_in_liblttng_ust() {
    let soname = LIBLTTNG_UST_SONAME.to_str().unwrap();
    // SAFETY: loading liblttng-ust runs its constructors (registration with a session daemon,
    // if any); nothing is called through the tables.
    unsafe {
        let lib = libloading::Library::new(soname).expect("liblttng-ust.so.1 is installed");
        let hidden = Hidden::load(&lib).expect("hidden functions resolve");
        let api = LttngUst::from_library(lib).expect("generated table resolves");
        // The hidden symbols live in liblttng-ust-tracepoint, a dependency: distinct from the
        // public ones, and distinct from each other.
        assert_ne!(
            hidden.probe_register_queue_release as usize,
            hidden.probe_unregister_queue_release as usize
        );
        assert_ne!(
            api.lttng_ust_probe_register as usize,
            api.lttng_ust_probe_unregister as usize
        );
    }
}

#[test]
fn layout_constants_match_the_2_13_abi() {
    assert_eq!(cotrace_lttng_sys::LTTNG_UST_PROVIDER_MAJOR, 3);
    assert_eq!(cotrace_lttng_sys::LTTNG_UST_PROVIDER_MINOR, 0);
    assert_eq!(cotrace_lttng_sys::LTTNG_UST_ABI_SYM_NAME_LEN, 256);
    assert_eq!(
        core::mem::size_of::<cotrace_lttng_sys::lttng_ust_tracepoint>(),
        56
    );
}
