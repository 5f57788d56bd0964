//! A plugin instrumented with cotrace, loaded with `dlopen` and closed with `dlclose` by
//! `tests/unload.rs`. Its C ABI: `cotrace_plugin_init` (registers the events with both tracers
//! and returns the word's address), `cotrace_plugin_fire`.

cotrace::provider! {
    /// The plugin's events.
    pub mod plug {
        /// One call of `cotrace_plugin_fire`.
        #[level(info)]
        fn ping(n: u64, what: &str);
    }
}

/// Registers the plugin's events (`cotrace::init`) and returns the address of `plug:ping`'s
/// enable word, which the test reads after the plugin is closed.
#[unsafe(no_mangle)]
pub extern "C" fn cotrace_plugin_init() -> *const u32 {
    let _ = cotrace::init();
    plug::ping.event().word().kernel_address().cast_const()
}

/// Fires `plug:ping(n, "plugin")`.
#[unsafe(no_mangle)]
pub extern "C" fn cotrace_plugin_fire(n: u64) {
    cotrace::fire!(plug::ping(n, "plugin"));
}
