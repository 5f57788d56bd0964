//! Events defined at run time: for plugins, other languages, configuration-driven events, and
//! cotrace's `tracing` layer.
//!
//! ```
//! use cotrace::{FieldKind, Level, Value, dynamic::EventBuilder};
//!
//! cotrace::init();
//! let loaded = EventBuilder::new("plugins", "loaded")
//!     .level(Level::Notice)
//!     .field("name", FieldKind::Str)
//!     .field("version", FieldKind::U32)
//!     .register()
//!     .expect("valid names");
//! if loaded.is_enabled() {
//!     loaded.fire(&[Value::Str("gzip"), Value::U32(3)]).unwrap();
//! }
//! assert!(cotrace::status().events.iter().any(|e| e.lttng_name == "plugins:loaded"));
//! ```
//!
//! # One path
//!
//! [`EventBuilder::register`] returns the same [`Event`] type as a [`provider!`](crate::provider)
//! event: the same [`EnableWord`](crate::EnableWord) checked the same way
//! ([`Event::is_enabled`]), the same registry ([`events`](crate::events) lists it after the
//! declared events), the same adapters, and a line in [`status`](crate::status). It is leaked:
//! it lives for the process, because the kernel keeps its word's address. Names, field names
//! and kinds are also leaked, once per distinct string (they are interned), so defining the
//! same names again, or failing to, costs no more memory.
//!
//! # Names
//!
//! The same rules as [`provider!`'s](crate::provider#names), checked by the same code
//! (a `const fn` there, called at run time here) and reported as [`DynamicError::Name`] with
//! the same [`NameRule`] and message a `provider!` compile error would show. Names given at
//! run time may break two rules an identifier cannot: empty, or starting with a digit.
//! An event name already used by another event of the program (declared or defined) is
//! refused ([`DynamicError::AlreadyDefined`], which hands back the existing event), as is a
//! kernel name already used ([`DynamicError::KernelNameTaken`]: `a_b:c` and `a:b_c` would be
//! one user_events event). One rule of `provider!` is a tracer's limit, not a name rule, and is
//! not refused here: a user_events description over 511 bytes
//! ([`NameRule::DescriptionTooLong`]). The event is defined, the other tracers take it, and
//! its kernel registration fails ([`status`](crate::status) says why).
//!
//! # Registration
//!
//! Defined after [`init`](crate::init), the event is registered at once, by the defining
//! thread, with every available tracer; defined before, [`init`](crate::init) registers it
//! with the declared events. A tracer that refuses it or is missing is not an error: as for a
//! declared event, [`status`](crate::status) says why and that tracer leaves it off.
//!
//! - **user_events**: registered as `provider_event` with its fields, like a declared event.
//! - **LTTng**: liblttng-ust takes or refuses a provider (a probe descriptor) whole, and
//!   providers registered at [`init`](crate::init) cannot grow. So each event defined after
//!   `init` is **one more probe descriptor of its provider name**
//!   ([`cotrace_ust::register_provider_part`]):
//!   `lttng list -u` lists it as `provider:event` next to the provider's other events and
//!   `lttng enable-event -u 'provider:*'` matches them all, whether declared or defined.
//!   A session that already enables it picks it up at once (the registering thread waits for
//!   liblttng-ust to tell the session daemon, a round trip, once per event).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, TryLockError};

use arc_swap::ArcSwapOption;

use crate::event::{Event, EventDesc};
use crate::field::{FieldDesc, FieldKind};
use crate::level::Level;
use crate::macro_support::{NameRule, describe, find_problem};
use crate::registry::Taken;

/// A definition of an event at run time; [`register`](Self::register) makes it an [`Event`].
#[derive(Clone, Debug)]
pub struct EventBuilder {
    provider: String,
    name: String,
    level: Level,
    fields: Vec<(String, FieldKind)>,
    persist: bool,
    multi_format: bool,
    origin: Option<String>,
}

impl EventBuilder {
    /// An event `provider:name` (LTTng) / `provider_name` (user_events), level
    /// [`Level::Info`], no fields yet.
    pub fn new(provider: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            name: name.into(),
            level: Level::Info,
            fields: Vec::new(),
            persist: false,
            multi_format: false,
            origin: None,
        }
    }

    /// Its level (the LTTng loglevel; see [`Level`]).
    pub fn level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }

    /// Appends a field.
    pub fn field(mut self, name: impl Into<String>, kind: FieldKind) -> Self {
        self.fields.push((name.into(), kind));
        self
    }

    /// `#[persist]` of [`provider!`](crate::provider#attributes).
    pub fn persist(mut self, persist: bool) -> Self {
        self.persist = persist;
        self
    }

    /// `#[multi_format]` of [`provider!`](crate::provider#attributes).
    pub fn multi_format(mut self, multi_format: bool) -> Self {
        self.multi_format = multi_format;
        self
    }

    /// Where it was defined, shown by conflict messages in place of a `provider!`'s module
    /// (e.g. `module_path!()`, or a plugin's name). Default `<defined at run time>`.
    pub fn origin(mut self, origin: &str) -> Self {
        self.origin = Some(origin.to_owned());
        self
    }

    /// Checks the names, adds the event to the registry, and registers it with every
    /// available tracer if [`init`](crate::init) has run (see the [module docs](self)).
    ///
    /// # Errors
    ///
    /// [`DynamicError`]: a name rule broken, or the name taken. Nothing is registered then.
    pub fn register(self) -> Result<&'static Event, DynamicError> {
        // Interning is serialised by the registry's lock: a refused definition finds every
        // name already interned (no thread ever leaks a copy because another is interning).
        let held = crate::registry::lock();
        let provider = intern(&held, &self.provider);
        let name = intern(&held, &self.name);
        let kernel_name = intern(&held, &format!("{provider}_{name}"));
        let fields: Vec<FieldDesc> = self
            .fields
            .iter()
            .map(|(n, kind)| FieldDesc {
                name: intern(&held, n),
                kind: *kind,
            })
            .collect();
        // A description too long for user_events is the kernel's limit only: the event is
        // defined, the other tracers take it, and its kernel registration fails with why.
        if let Some(rule) = find_problem(provider, name, kernel_name, &fields)
            .filter(|rule| !matches!(rule, NameRule::DescriptionTooLong { .. }))
        {
            return Err(DynamicError::Name {
                rule,
                message: describe(rule, provider, name, kernel_name, &fields)
                    .message()
                    .to_owned(),
            });
        }
        match crate::registry::taken(&held, provider, name, kernel_name) {
            Some(Taken::Name(existing)) => return Err(DynamicError::AlreadyDefined { existing }),
            Some(Taken::KernelName(existing)) => {
                return Err(DynamicError::KernelNameTaken { existing });
            }
            None => {}
        }
        let event: &'static Event = Box::leak(Box::new(Event::__new(EventDesc {
            provider,
            name,
            kernel_name,
            module_path: match &self.origin {
                Some(origin) => intern(&held, origin),
                None => "<defined at run time>",
            },
            level: self.level,
            persist: self.persist,
            multi_format: self.multi_format,
            fields: Vec::leak(fields),
        })));
        if crate::registry::initialized(&held) {
            crate::registry::register_now(&held, event);
        }
        crate::registry::publish(&held, event);
        Ok(event)
    }
}

/// Why [`EventBuilder::register`] defined nothing.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum DynamicError {
    /// A name rule of the tracers is broken: the rule, and the message `provider!` would show
    /// as a compile error for it.
    Name {
        /// The rule.
        rule: NameRule,
        /// What is wrong, naming the rule and the name.
        message: String,
    },
    /// `provider:event` is already an event of this program (declared or defined): here it is.
    AlreadyDefined {
        /// The event of that name.
        existing: &'static Event,
    },
    /// Another event of this program has the same user_events name (`a_b:c` and `a:b_c` are
    /// both `a_b_c`).
    KernelNameTaken {
        /// The event that has it.
        existing: &'static Event,
    },
}

impl core::fmt::Display for DynamicError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Name { message, .. } => f.write_str(message),
            Self::AlreadyDefined { existing } => write!(
                f,
                "`{}` is already an event of this program (in `{}`)",
                existing.desc().lttng_name(),
                existing.desc().module_path
            ),
            Self::KernelNameTaken { existing } => write!(
                f,
                "kernel event name `{}` is already used by `{}` (in `{}`): user_events would \
                 merge them into one event",
                existing.desc().kernel_name,
                existing.desc().lttng_name(),
                existing.desc().module_path
            ),
        }
    }
}

impl std::error::Error for DynamicError {}

/// `s` leaked for the life of the process; equal strings share one allocation. Called under
/// the registry's lock, so the table's own mutex is never contended, but in a child forked
/// while a thread of its parent was interning: that table may be half updated, so it is left
/// alone (leaked) and a fresh one takes its place.
fn intern(_held: &crate::registry::RegistryGuard, s: &str) -> &'static str {
    type Table = Mutex<HashSet<&'static str>>;
    static STRINGS: ArcSwapOption<Table> = ArcSwapOption::const_empty();
    let table = match STRINGS.load_full() {
        Some(table) => table,
        None => {
            let fresh = Arc::new(Table::default());
            STRINGS.store(Some(fresh.clone()));
            fresh
        }
    };
    if matches!(table.try_lock(), Err(TryLockError::WouldBlock)) {
        // Held by a thread of the parent: never touched (nor dropped) again.
        core::mem::forget(STRINGS.swap(Some(Arc::new(Table::default()))));
        core::mem::forget(table);
        return intern(_held, s);
    }
    // Uncontended: the caller holds the registry's lock.
    let mut strings = table.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(&interned) = strings.get(s) {
        return interned;
    }
    let leaked: &'static str = Box::leak(s.to_owned().into_boxed_str());
    strings.insert(leaked);
    leaked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interned_strings_are_shared() {
        let held = crate::registry::lock();
        let a = intern(&held, "dyn_intern_test");
        let b = intern(&held, &String::from("dyn_intern_test"));
        assert!(core::ptr::eq(a, b));
    }
}
