//! The instrumentation macros: [`provider!`](crate::provider) declares events,
//! [`fire!`](crate::fire) fires one.

/// Declares a provider: a module of events, each with typed fields.
///
/// ```
/// cotrace::provider! {
///     /// Request handling.
///     pub mod myapp {
///         /// A request finished.
///         #[level(info)]
///         fn request_done(id: u64, status: u16, path: &str, latency_ns: u64);
///
///         /// The cache was flushed (no fields).
///         #[level(debug)]
///         fn cache_flushed();
///     }
/// }
///
/// # let path = String::from("/index.html");
/// cotrace::fire!(myapp::request_done(42, 200, &path, 1_500));
/// cotrace::fire!(myapp::cache_flushed());
/// assert_eq!(myapp::request_done.event().desc().kernel_name, "myapp_request_done");
/// ```
///
/// Each `fn` becomes a unit struct in the module (`myapp::request_done`) whose
/// [`event()`](crate::Event) is a `static` [`Event`](crate::Event), listed at link time for
/// [`init`](crate::init). The names each tracer sees:
///
/// | | LTTng-UST | user_events (ftrace, perf) |
/// | --- | --- | --- |
/// | event | `myapp:request_done` | `myapp_request_done` (system `user_events`) |
/// | fields | `id`, `status`, `path`, `latency_ns` | the same names |
/// | level | `#[level(..)]`, see [`Level`](crate::Level) | not recorded |
///
/// Field types are those of [`Field`](crate::Field); anything else, or two fields with one
/// name, is a compile error. `#[level(..)]` is optional (default `info`); other attributes,
/// doc comments included, go on the generated struct.
#[macro_export]
macro_rules! provider {
    (
        $(#[$pattr:meta])*
        $vis:vis mod $provider:ident {
            $(
                $(#[$($eattr:tt)*])*
                fn $event:ident ( $($field:ident : $ty:ty),* $(,)? );
            )*
        }
    ) => {
        $(#[$pattr])*
        $vis mod $provider {
            #[allow(unused_imports)]
            use super::*;
            $(
                $crate::__cotrace_event! {
                    provider($provider) event($event) fields($($field : $ty),*)
                    docs() level() attrs($([$($eattr)*])*)
                }
            )*
        }
    };
}

/// Fires an event declared with [`provider!`](crate::provider), written like a call.
///
/// ```
/// # cotrace::provider! { pub mod shop { fn sold(item: &str, cents: u64); } }
/// let mut evaluated = 0;
/// cotrace::fire!(shop::sold("tea", { evaluated += 1; 450 }));
/// assert_eq!(evaluated, 0, "nobody enabled shop:sold, so no field was evaluated");
/// ```
///
/// The expansion checks the event's enable word (one relaxed load and a branch). Only when a
/// tracer wants the event are the arguments evaluated, once, in order, and handed to every
/// tracer that wants it: the kernel (bit 31), LTTng (the reference count), or both. Arguments
/// are checked against the declared types as in a function call.
#[macro_export]
macro_rules! fire {
    ($($segment:ident)::+ ( $($arg:expr),* $(,)? )) => {{
        let __cotrace_event = $($segment)::+;
        if __cotrace_event.event().is_enabled() {
            __cotrace_event.__emit($($arg),*);
        }
    }};
}

/// Generates one event of a [`provider!`](crate::provider): not API.
#[doc(hidden)]
#[macro_export]
macro_rules! __cotrace_event {
    // `#[level(..)]` is taken out of the attributes...
    (provider($p:ident) event($e:ident) fields($($f:tt)*) docs($($d:tt)*) level($($l:tt)*)
     attrs([level($lv:ident)] $($rest:tt)*)) => {
        $crate::__cotrace_event! {
            provider($p) event($e) fields($($f)*) docs($($d)*) level($lv) attrs($($rest)*)
        }
    };
    // ...every other attribute goes on the event's struct...
    (provider($p:ident) event($e:ident) fields($($f:tt)*) docs($($d:tt)*) level($($l:tt)*)
     attrs([$($a:tt)*] $($rest:tt)*)) => {
        $crate::__cotrace_event! {
            provider($p) event($e) fields($($f)*) docs($($d)* #[$($a)*]) level($($l)*)
            attrs($($rest)*)
        }
    };
    // ...and then the event is generated.
    (provider($p:ident) event($e:ident) fields($($field:ident : $ty:ty),*) docs($($d:tt)*)
     level($($l:tt)*) attrs()) => {
        $($d)*
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug)]
        pub struct $e;

        impl $e {
            /// The event's static description, enable word and registrations.
            #[inline(always)]
            pub fn event(self) -> &'static $crate::Event {
                const FIELDS: &[$crate::FieldDesc] = &[$(
                    $crate::FieldDesc {
                        name: $crate::__macro_support::stringify!($field),
                        kind: <$ty as $crate::Field>::KIND,
                    }
                ),*];
                static EVENT: $crate::Event = $crate::Event::__new($crate::EventDesc {
                    provider: $crate::__macro_support::stringify!($p),
                    name: $crate::__macro_support::stringify!($e),
                    kernel_name: $crate::__macro_support::concat!(
                        $crate::__macro_support::stringify!($p),
                        "_",
                        $crate::__macro_support::stringify!($e)
                    ),
                    level: $crate::__cotrace_level!($($l)*),
                    fields: FIELDS,
                });
                #[$crate::__macro_support::distributed_slice($crate::__macro_support::EVENTS)]
                #[linkme(crate = $crate::__macro_support::linkme)]
                static REGISTERED: &$crate::Event = &EVENT;
                &EVENT
            }

            /// True when a tracer wants this event now: for guarding costly preparation.
            #[inline(always)]
            pub fn is_enabled(self) -> bool {
                self.event().is_enabled()
            }

            // The parameter list doubles as the duplicate-field check: two fields with one
            // name are "bound more than once in this parameter list".
            #[doc(hidden)]
            #[cold]
            #[inline(never)]
            #[allow(clippy::too_many_arguments)]
            pub fn __emit(self, $($field: $ty),*) {
                self.event().__emit(&[$($crate::Field::value(&$field)),*]);
            }
        }
    };
}

/// Maps `#[level(..)]` to a [`Level`](crate::Level): not API.
#[doc(hidden)]
#[macro_export]
macro_rules! __cotrace_level {
    () => {
        $crate::Level::Info
    };
    (emergency) => {
        $crate::Level::Emergency
    };
    (alert) => {
        $crate::Level::Alert
    };
    (critical) => {
        $crate::Level::Critical
    };
    (error) => {
        $crate::Level::Error
    };
    (warn) => {
        $crate::Level::Warn
    };
    (notice) => {
        $crate::Level::Notice
    };
    (info) => {
        $crate::Level::Info
    };
    (debug) => {
        $crate::Level::Debug
    };
    ($other:ident) => {
        $crate::__macro_support::compile_error!($crate::__macro_support::concat!(
            "unknown level `",
            $crate::__macro_support::stringify!($other),
            "`: expected one of emergency, alert, critical, error, warn, notice, info, debug"
        ))
    };
}
