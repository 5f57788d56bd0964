//! `cotrace::init` registers every declared event once, from any number of threads, and
//! `cotrace::status` reports each tracer and event.

use cotrace::Registration;

cotrace::provider! {
    /// Events of this test.
    pub mod reg_test {
        /// One.
        fn first(n: u32);
        /// Two.
        #[level(error)]
        fn second(s: &str, b: bool);
    }
}

#[test]
fn init_is_idempotent_and_thread_safe() {
    let before = cotrace::status();
    let mine: Vec<_> = before
        .events
        .iter()
        .filter(|e| e.lttng_name.starts_with("reg_test:"))
        .collect();
    assert_eq!(mine.len(), 2);
    assert!(
        mine.iter()
            .all(|e| e.kernel == Registration::NotInitialized)
    );
    assert!(mine.iter().all(|e| e.lttng == Registration::NotInitialized));

    let statuses: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4).map(|_| s.spawn(cotrace::init)).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let again = cotrace::init();
    for status in statuses.iter().chain([&again]) {
        for e in status
            .events
            .iter()
            .filter(|e| e.lttng_name.starts_with("reg_test:"))
        {
            // A second registration would have failed ("already registered"): every call must
            // report the outcome of the one and only registration.
            let first = statuses[0]
                .events
                .iter()
                .find(|f| f.lttng_name == e.lttng_name)
                .unwrap();
            assert_eq!(e.kernel, first.kernel, "{}", e.lttng_name);
            assert_eq!(e.lttng, first.lttng, "{}", e.lttng_name);
            assert_ne!(e.kernel, Registration::NotInitialized);
            assert_ne!(e.lttng, Registration::NotInitialized);
        }
    }

    // LTTng is installed on every machine the tests run on: the provider registered.
    assert!(again.lttng.available, "{}", again.lttng);
    let second = again
        .events
        .iter()
        .find(|e| e.lttng_name == "reg_test:second")
        .unwrap();
    assert_eq!(second.lttng, Registration::Registered);
    assert_eq!(second.kernel_name, "reg_test_second");
    assert_eq!(second.level, cotrace::Level::Error);
    // The kernel side is registered exactly when user_events is usable here.
    let kernel_ok = cotrace::cotrace_kernel::availability().is_ok();
    assert_eq!(again.kernel.available, kernel_ok, "{}", again.kernel);
    assert_eq!(
        second.kernel == Registration::Registered,
        kernel_ok,
        "{:?}",
        second.kernel
    );
    if !kernel_ok {
        assert!(matches!(&second.kernel, Registration::Failed(why) if why.contains("user_events")));
    }
    let text = again.to_string();
    assert!(text.contains("reg_test:second (reg_test_second)"), "{text}");
}
