//! Events: the static description of an event, and its state (the enable word and each
//! tracer's registration).
//!
//! [`provider!`](crate::provider) builds one [`Event`] `static` per declared event and lists it
//! in a link-time registry, so [`init`](crate::init) finds every event in the program.

#[cfg(any(feature = "kernel", feature = "lttng"))]
use std::sync::OnceLock;

use cotrace_word::{EnableWord, WordSnapshot};

use crate::field::{FieldDesc, Value};
use crate::level::Level;

/// What never changes about an event: its names, level and fields.
#[derive(Clone, Copy, Debug)]
pub struct EventDesc {
    /// The provider: the name of the `mod` in [`provider!`](crate::provider) (without the `r#`
    /// of a raw identifier).
    pub provider: &'static str,
    /// The event's name: the `fn` name in the declaration (without `r#`).
    pub name: &'static str,
    /// The name the kernel knows it by: `provider_event` (user_events names have no `:`).
    /// Two events whose kernel names are equal (`a_b::c` and `a::b_c`) are refused by the
    /// kernel side at [`init`](crate::init), never merged.
    pub kernel_name: &'static str,
    /// The Rust module the event was declared in (`module_path!()` inside the provider's
    /// `mod`), to tell apart two providers of one name in different modules.
    pub module_path: &'static str,
    /// How severe it is.
    pub level: Level,
    /// `#[persist]`: registered with user_events' `USER_EVENT_REG_PERSIST`, so the kernel
    /// keeps the event (and can decode its records) after the process exits. Needs
    /// `CAP_PERFMON`; without it the event is registered without the flag and
    /// [`status`](crate::status) says so.
    pub persist: bool,
    /// `#[multi_format]`: registered with `USER_EVENT_REG_MULTI_FORMAT` (Linux 6.9+), so
    /// another process may register the same name with other fields. The kernel then names the
    /// tracepoint `user_events_multi:<kernel_name>.<hex id>` instead of
    /// `user_events:<kernel_name>`; on older kernels the flag is dropped and the name stays.
    pub multi_format: bool,
    /// Its fields, in declaration order.
    pub fields: &'static [FieldDesc],
}

impl EventDesc {
    /// The name LTTng knows it by: `provider:event`.
    pub fn lttng_name(&self) -> String {
        format!("{}:{}", self.provider, self.name)
    }
}

/// An event: its [description](EventDesc), its [enable word](EnableWord) and its registration
/// with each tracer.
///
/// Only [`provider!`](crate::provider) creates these, as `static`s: the kernel keeps the word's
/// address for as long as the process runs, which a `static` guarantees.
pub struct Event {
    desc: EventDesc,
    word: EnableWord,
    #[cfg(feature = "kernel")]
    pub(crate) kernel: OnceLock<Result<crate::kernel::KernelEvent, String>>,
    #[cfg(feature = "lttng")]
    pub(crate) lttng: OnceLock<Result<crate::lttng::LttngEvent, String>>,
}

impl Event {
    /// A new, unregistered event. Used by [`provider!`](crate::provider); not API.
    #[doc(hidden)]
    pub const fn __new(desc: EventDesc) -> Self {
        Self {
            desc,
            word: EnableWord::new(),
            #[cfg(feature = "kernel")]
            kernel: OnceLock::new(),
            #[cfg(feature = "lttng")]
            lttng: OnceLock::new(),
        }
    }

    /// The event's description.
    pub fn desc(&self) -> &EventDesc {
        &self.desc
    }

    /// True when the kernel or an LTTng session wants this event: the call-site check.
    #[inline(always)]
    pub fn is_enabled(&self) -> bool {
        self.word.is_enabled()
    }

    /// The event's enable word as it is now: kernel bit and LTTng reference count.
    pub fn snapshot(&self) -> WordSnapshot {
        self.word.snapshot()
    }

    /// The event's enable word.
    ///
    /// The adapters hand its address to the tracers. An in-process tracer may count itself in
    /// with [`EnableWord::acquire_user`] (out when the guard drops) or a
    /// [`UserShare`](cotrace_word::UserShare): the event then fires, its fields are evaluated,
    /// and LTTng receives them if registered. Only the holder can give a count back.
    pub fn word(&'static self) -> &'static EnableWord {
        &self.word
    }

    /// Counts of this event's kernel writes that were truncated, dropped or failed.
    pub(crate) fn kernel_writes(&self) -> crate::status::KernelWrites {
        #[cfg(feature = "kernel")]
        if let Some(Ok(kernel)) = self.kernel.get() {
            return kernel.writes();
        }
        crate::status::KernelWrites::default()
    }

    /// Hands one firing's values to every tracer that wants the event. Called by
    /// [`fire!`](crate::fire) after the enable-word check; not API.
    #[doc(hidden)]
    #[inline]
    pub fn __emit<const N: usize>(&'static self, values: &[Value<'_>; N]) {
        let state = self.word.snapshot();
        #[cfg(feature = "kernel")]
        if state.kernel_enabled() {
            if let Some(Ok(kernel)) = self.kernel.get() {
                kernel.write(values);
            }
        }
        #[cfg(feature = "lttng")]
        if state.users_enabled() {
            if let Some(Ok(lttng)) = self.lttng.get() {
                lttng.fire(values);
            }
        }
        let _ = (state, values);
    }
}

impl core::fmt::Debug for Event {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Event")
            .field("desc", &self.desc)
            .field("word", &self.word)
            .finish_non_exhaustive()
    }
}
