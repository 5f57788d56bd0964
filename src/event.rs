//! Events: the static description of an event, and its state (the enable word and each
//! tracer's registration).
//!
//! [`provider!`](crate::provider) builds one [`Event`] `static` per declared event and lists it
//! in a link-time registry, so [`init`](crate::init) finds every event in the program.
//! [`dynamic::EventBuilder`](crate::dynamic::EventBuilder) builds the same [`Event`] at run
//! time, leaked (it lives for the process, as the kernel keeps its word's address) and added
//! to the registry's run-time list: one type, one registry, the same adapters and status.

#[cfg(any(feature = "kernel", feature = "lttng"))]
use once_cell::race::OnceBox;

use cotrace_word::{EnableWord, WordSnapshot};

use crate::field::{FieldDesc, FieldKind, Value};
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
/// [`provider!`](crate::provider) creates these as `static`s;
/// [`dynamic::EventBuilder`](crate::dynamic::EventBuilder) creates them at run time and leaks
/// them. Either way an event lives as long as the process: the kernel keeps the word's address.
pub struct Event {
    desc: EventDesc,
    word: EnableWord,
    #[cfg(feature = "kernel")]
    pub(crate) kernel: OnceBox<Result<crate::kernel::KernelEvent, String>>,
    #[cfg(feature = "lttng")]
    pub(crate) lttng: OnceBox<Result<crate::lttng::LttngEvent, String>>,
}

impl Event {
    /// A new, unregistered event. Used by [`provider!`](crate::provider); not API.
    #[doc(hidden)]
    pub const fn __new(desc: EventDesc) -> Self {
        Self {
            desc,
            word: EnableWord::new(),
            #[cfg(feature = "kernel")]
            kernel: OnceBox::new(),
            #[cfg(feature = "lttng")]
            lttng: OnceBox::new(),
        }
    }

    /// Where the enable word lies within an `Event`, for [`fire!`](crate::fire)'s two-instruction
    /// check; not API.
    #[doc(hidden)]
    pub const __WORD_OFFSET: usize = core::mem::offset_of!(Event, word);

    /// The event itself: a [`provider!`](crate::provider) event is written
    /// `myapp::request_done.event()`, as a run-time one is.
    pub fn event(&'static self) -> &'static Event {
        self
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

    /// Fires the event with `values`, one per field in order, checked at run time: the way to
    /// fire an event [defined at run time](crate::dynamic) (a [`provider!`](crate::provider)
    /// event takes it too, though [`fire!`](crate::fire) checks its types at compile time).
    ///
    /// When no tracer wants the event it returns `Ok(())` after one relaxed load, without
    /// looking at `values`; guard costly preparation with [`is_enabled`](Self::is_enabled).
    /// Otherwise values that do not match the fields are refused and nothing is recorded.
    /// Never panics; what a tracer's write does is not reported (as with `fire!`).
    ///
    /// LTTng's `ip` context records an address in the function that calls `fire` (it is always
    /// inlined there), on the line of the inlined `fire`: tools that follow inlining
    /// (`addr2line -i`, gdb, perf) give the caller's line as its call site; `babeltrace2
    /// --debug-info` 2.0, which cannot follow Rust's inlining, prints no line rather than this
    /// file's. [`fire!`](crate::fire) records the address of its own line, which babeltrace2
    /// prints.
    ///
    /// # Errors
    ///
    /// [`FireError`] when the values do not match the fields (only checked while enabled).
    #[inline(always)]
    pub fn fire(&'static self, values: &[Value<'_>]) -> Result<(), FireError> {
        if !self.word.is_enabled() {
            return Ok(());
        }
        self.fire_at(crate::__macro_support::call_site_ip!(inlined), values)
    }

    /// [`fire`](Self::fire) past the enable check, with the address LTTng's `ip` context
    /// records (0: none, as for `tracing` events, whose call site the layer does not know).
    pub(crate) fn fire_at(&'static self, ip: usize, values: &[Value<'_>]) -> Result<(), FireError> {
        self.check(values)?;
        self.emit_slice(ip, values);
        Ok(())
    }

    /// Whether `values` fit the fields.
    fn check(&self, values: &[Value<'_>]) -> Result<(), FireError> {
        let fields = self.desc.fields;
        if values.len() != fields.len() {
            return Err(FireError::Count {
                expected: fields.len(),
                given: values.len(),
            });
        }
        for (index, (field, value)) in fields.iter().zip(values).enumerate() {
            if field.kind != value.kind() {
                return Err(FireError::Kind {
                    index,
                    expected: field.kind,
                    given: value.kind(),
                });
            }
        }
        Ok(())
    }

    /// [`__emit`](Self::__emit) for checked values of any number.
    fn emit_slice(&'static self, ip: usize, values: &[Value<'_>]) {
        let state = self.word.snapshot();
        #[cfg(feature = "kernel")]
        if state.kernel_enabled() {
            if let Some(Ok(kernel)) = self.kernel.get() {
                kernel.write_slice(values);
            }
        }
        #[cfg(feature = "lttng")]
        if state.users_enabled() {
            if let Some(Ok(lttng)) = self.lttng.get() {
                lttng.fire_slice(ip, values);
            }
        }
        let _ = (state, ip, values);
    }

    /// Hands one firing's values to every tracer that wants the event, with the address of
    /// the `fire!` for LTTng's `ip` context. Called by [`fire!`](crate::fire) after the
    /// enable-word check; not API.
    #[doc(hidden)]
    #[inline]
    pub fn __emit<const N: usize>(&'static self, ip: usize, values: &[Value<'_>; N]) {
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
                lttng.fire(ip, values);
            }
        }
        let _ = (state, ip, values);
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

/// Why [`Event::fire`] recorded nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FireError {
    /// Not one value per field.
    Count {
        /// The event's number of fields.
        expected: usize,
        /// The number of values given.
        given: usize,
    },
    /// A value's kind is not its field's.
    Kind {
        /// The field's position.
        index: usize,
        /// The field's kind.
        expected: FieldKind,
        /// The value's kind.
        given: FieldKind,
    },
}

impl core::fmt::Display for FireError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Count { expected, given } => {
                write!(f, "{given} values for an event of {expected} fields")
            }
            Self::Kind {
                index,
                expected,
                given,
            } => write!(
                f,
                "value {index} is a {} for a field of type {}",
                given.rust_type(),
                expected.rust_type()
            ),
        }
    }
}

impl std::error::Error for FireError {}
