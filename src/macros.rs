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
/// Each `fn` becomes two items of one name in the module: a `static`
/// [`Event`](crate::Event) (`myapp::request_done` as a value: its word, registrations and
/// [`event()`](crate::Event::event)), listed at link time for [`init`](crate::init), and a
/// struct of the same name holding its compile-time description (`myapp::request_done::DESC`).
/// Bind the event by reference (`let e = &myapp::request_done;`): a `static` is not copied.
/// The names each tracer sees:
///
/// | | LTTng-UST | user_events (ftrace, perf) |
/// | --- | --- | --- |
/// | event | `myapp:request_done` | `myapp_request_done` (system `user_events`) |
/// | fields | `id`, `status`, `path`, `latency_ns` | the same names |
/// | level | `#[level(..)]`, see [`Level`](crate::Level) | not recorded |
///
/// Field types are those of [`Field`](crate::Field); anything else is a compile error.
///
/// # Attributes
///
/// - `#[level(..)]`: the LTTng loglevel (optional, default `info`); see [`Level`](crate::Level).
/// - `#[persist]`: registered with user_events' `USER_EVENT_REG_PERSIST`, so the kernel keeps
///   the event after the process exits. Without it, the event is deleted with its process and
///   ftrace's `trace` file can no longer decode its records once ftrace lets go of it ("Unknown
///   type 460"); perf and trace-cmd can name it only while it exists. PERSIST needs
///   `CAP_PERFMON`: without it (`EPERM`) the event is registered without the flag and
///   [`status`](crate::status) says `registered WITHOUT #[persist]`. A persistent event stays
///   until deleted: `echo '!u:<name> <fields>' >> <tracefs>/dynamic_events` (the full
///   description, shown by `status()`), or [`cotrace_kernel::delete`](crate::cotrace_kernel).
/// - `#[multi_format]`: registered with `USER_EVENT_REG_MULTI_FORMAT` (Linux 6.9+), so
///   processes may register the same name with different fields. **The kernel then renames
///   the tracepoint**: `user_events_multi:myapp_request_done.<hex id>` (one per format; find it
///   with `ls <tracefs>/events/user_events_multi/`) instead of `user_events:myapp_request_done`.
///   Older kernels refuse the flag; the event is then registered plainly, under its usual
///   name, and `status()` says so.
///
/// Other attributes, doc comments included, go on the generated struct.
///
/// # Names
///
/// Both tracers take names of ASCII letters, digits and `_`; cotrace checks every rule at
/// compile time, with a message saying which rule and which name:
///
/// | rule | why |
/// | --- | --- |
/// | provider, event and field names ASCII only (`größe` is refused) | both tracers |
/// | `provider:event` at most 255 bytes | LTTng (`LTTNG_UST_ABI_SYM_NAME_LEN`); `provider_event` for user_events, same length |
/// | at most 32 fields | both adapters' bound |
/// | a field name does not start with `_` | LTTng (it names the hidden length of a `&[u8]` field `_<name>_length`) |
/// | a field name does not start with `common_` | ftrace (its own fields of every event) |
/// | a field name at most 246 bytes | LTTng (`_<name>_length` within 255) |
/// | each field name once | both |
/// | `provider_event type field; type field...` at most 511 bytes | user_events' description (`MAX_EVENT_DESC`, 512 with the NUL); types as in the [field table](crate::field) |
///
/// Raw identifiers are registered without `r#`: a field `r#type` is `type` for both tracers.
/// Any field name that Rust accepts works, even one equal to a sibling event's name or to a
/// lowercase const or unit struct of the enclosing module.
///
/// Some rules concern several declarations, so [`init`](crate::init) checks them, and refuses
/// rather than merges:
///
/// - **One provider name in several modules** (`mod net` in `a` and in `b`) is one LTTng
///   provider listing the events of both. An event name declared in both (`net::send` twice)
///   is refused in both places, by both tracers, and `status()` names the two modules.
/// - **Kernel names must differ**: `a_b::c` and `a::b_c` are both `a_b_c` for user_events,
///   which would make them one event (enabling one enables both, records indistinguishable).
///   The kernel side of both is refused (their LTTng side works); rename one.
/// - An event LTTng refuses fails alone: the rest of its provider registers.
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
                    docs() level() flags(false false) attrs($([$($eattr)*])*)
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
/// The expansion checks the event's enable word: on x86_64 two instructions (`cmp` of the word
/// in memory with 0, `jne`), elsewhere a relaxed load and a branch. Only when a
/// tracer wants the event are the arguments evaluated, once, in order, and handed to every
/// tracer that wants it: the kernel (bit 31), LTTng (the reference count), or both. Arguments
/// are checked against the declared types as in a function call.
///
/// LTTng's `ip` context (`lttng add-context -u -t ip`) records the address of the `fire!`
/// line, so `babeltrace2 --debug-info` names the function and `file.rs:LINE` of the
/// `fire!`, as for a C tracepoint: on the enabled path, after the check, one instruction loads
/// its own address (x86_64 and aarch64; 0 elsewhere), as cotrace-ust's `call_site` module
/// explains.
#[macro_export]
#[collapse_debuginfo(yes)]
macro_rules! fire {
    ($($segment:ident)::+ ( $($arg:expr),* $(,)? )) => {
        $crate::__cotrace_if_enabled!(($($segment)::+) {
            <$($segment)::+>::__emit($crate::__macro_support::call_site_ip!(), $($arg),*);
        })
    };
}

/// Runs `$body` when the `static` [`Event`](crate::Event) `$event` is enabled: not API.
///
/// On x86_64 the check is the two instructions `cmp dword ptr [rip + word], 0; jne body`, an
/// `asm!` with a label operand (`asm_goto`, Rust 1.87). The compiler cannot fold a relaxed
/// atomic load into the compare (it emits `mov`, `test`, `jne`), so the asm does. It stays
/// inside Rust's memory model: the asm performs one aligned 4-byte load of the word, which on
/// x86_64 is single-copy atomic, so it behaves as an `AtomicU32::load(Relaxed)` of that word
/// would, and inline assembly may do anything the Rust code it stands for may do. It writes
/// nothing (`readonly`), touches no stack (`nostack`) and clobbers only the flags. Under Miri,
/// and on every other architecture, the check is [`Event::is_enabled`](crate::Event::is_enabled),
/// the relaxed load itself.
#[doc(hidden)]
#[macro_export]
#[collapse_debuginfo(yes)]
macro_rules! __cotrace_if_enabled {
    (($($event:ident)::+) $body:block) => {{
        #[cfg(all(target_arch = "x86_64", not(miri)))]
        // SAFETY: the template reads the 4 bytes of the event's enable word (`$event` is a
        // `static Event`, which lives for the program, and the offset is the word's within it)
        // with one aligned load, an atomic relaxed load on x86_64; it writes no memory and
        // uses no stack, and its only exit besides falling through is the label `$body`.
        unsafe {
            $crate::__macro_support::asm!(
                "cmp dword ptr [rip + {event} + {offset}], 0",
                "jne {enabled}",
                event = sym $($event)::+,
                offset = const $crate::Event::__WORD_OFFSET,
                enabled = label $body,
                options(nostack, readonly),
            );
        }
        #[cfg(not(all(target_arch = "x86_64", not(miri))))]
        if $crate::Event::is_enabled(&$($event)::+) $body
    }};
}

/// Generates one event of a [`provider!`](crate::provider): not API.
#[doc(hidden)]
#[macro_export]
macro_rules! __cotrace_event {
    // `#[level(..)]`, `#[persist]` and `#[multi_format]` are taken out of the attributes...
    (provider($p:ident) event($e:ident) fields($($f:tt)*) docs($($d:tt)*) level($($l:tt)*)
     flags($persist:tt $multi:tt) attrs([level($lv:ident)] $($rest:tt)*)) => {
        $crate::__cotrace_event! {
            provider($p) event($e) fields($($f)*) docs($($d)*) level($lv)
            flags($persist $multi) attrs($($rest)*)
        }
    };
    (provider($p:ident) event($e:ident) fields($($f:tt)*) docs($($d:tt)*) level($($l:tt)*)
     flags($persist:tt $multi:tt) attrs([persist] $($rest:tt)*)) => {
        $crate::__cotrace_event! {
            provider($p) event($e) fields($($f)*) docs($($d)*) level($($l)*)
            flags(true $multi) attrs($($rest)*)
        }
    };
    (provider($p:ident) event($e:ident) fields($($f:tt)*) docs($($d:tt)*) level($($l:tt)*)
     flags($persist:tt $multi:tt) attrs([multi_format] $($rest:tt)*)) => {
        $crate::__cotrace_event! {
            provider($p) event($e) fields($($f)*) docs($($d)*) level($($l)*)
            flags($persist true) attrs($($rest)*)
        }
    };
    // ...every other attribute goes on the event's struct...
    (provider($p:ident) event($e:ident) fields($($f:tt)*) docs($($d:tt)*) level($($l:tt)*)
     flags($persist:tt $multi:tt) attrs([$($a:tt)*] $($rest:tt)*)) => {
        $crate::__cotrace_event! {
            provider($p) event($e) fields($($f)*) docs($($d)* #[$($a)*]) level($($l)*)
            flags($persist $multi) attrs($($rest)*)
        }
    };
    // ...and then the event is generated.
    (provider($p:ident) event($e:ident) fields($($field:ident : $ty:ty),*) docs($($d:tt)*)
     level($($l:tt)*) flags($persist:tt $multi:tt) attrs()) => {
        $($d)*
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug)]
        pub struct $e {}

        /// The event's state: its enable word and registrations (the same name, in the value
        /// namespace, as the struct holding its description and typed `__emit`).
        #[allow(non_upper_case_globals)]
        pub static $e: $crate::Event = $crate::Event::__new(<$e>::DESC);

        const _: () = {
            #[$crate::__macro_support::distributed_slice($crate::__macro_support::EVENTS)]
            #[linkme(crate = $crate::__macro_support::linkme)]
            static REGISTERED: &$crate::Event = &$e;
        };

        impl $e {
            /// The event's static description (names, level, fields), checked at compile time.
            pub const DESC: $crate::EventDesc = {
                const PROVIDER: &str =
                    $crate::__macro_support::unraw($crate::__macro_support::stringify!($p));
                const EVENT: &str =
                    $crate::__macro_support::unraw($crate::__macro_support::stringify!($e));
                const KERNEL_NAME: &str = $crate::__macro_support::as_str(
                    &$crate::__macro_support::join::<{ PROVIDER.len() + 1 + EVENT.len() }>(
                        PROVIDER, b'_', EVENT,
                    ),
                );
                const FIELDS: &[$crate::FieldDesc] = &[$(
                    $crate::FieldDesc {
                        name: $crate::__macro_support::unraw(
                            $crate::__macro_support::stringify!($field),
                        ),
                        kind: <$ty as $crate::Field>::KIND,
                    }
                ),*];
                // Every name rule of both tracers, as a compile error.
                const _: () = {
                    let problem =
                        $crate::__macro_support::check_event(PROVIDER, EVENT, KERNEL_NAME, FIELDS);
                    if problem.is_problem() {
                        $crate::__macro_support::panic!("{}", problem.message());
                    }
                };
                $crate::EventDesc {
                    provider: PROVIDER,
                    name: EVENT,
                    kernel_name: KERNEL_NAME,
                    module_path: $crate::__macro_support::module_path!(),
                    level: $crate::__cotrace_level!($($l)*),
                    persist: $persist,
                    multi_format: $multi,
                    fields: FIELDS,
                }
            };

            /// The event's state, the `static` of the same name.
            #[doc(hidden)]
            pub const __EVENT: &'static $crate::Event = &$e;

            $crate::__cotrace_emit! {
                []
                [__cotrace_f0 __cotrace_f1 __cotrace_f2 __cotrace_f3 __cotrace_f4 __cotrace_f5
                 __cotrace_f6 __cotrace_f7 __cotrace_f8 __cotrace_f9 __cotrace_f10 __cotrace_f11
                 __cotrace_f12 __cotrace_f13 __cotrace_f14 __cotrace_f15 __cotrace_f16
                 __cotrace_f17 __cotrace_f18 __cotrace_f19 __cotrace_f20 __cotrace_f21
                 __cotrace_f22 __cotrace_f23 __cotrace_f24 __cotrace_f25 __cotrace_f26
                 __cotrace_f27 __cotrace_f28 __cotrace_f29 __cotrace_f30 __cotrace_f31]
                [$($field : $ty),*]
            }
        }

        // The event's description record in the binary's `cotrace_events` section, for tools
        // that read a binary without running it (`cotrace list --binary`). Nothing reads it at
        // run time.
        const _: () = {
            #[used]
            #[unsafe(link_section = "cotrace_events")]
            static DESCRIPTION: [u8; $crate::__macro_support::description_len(&$e::DESC)] =
                $crate::__macro_support::describe_record(&$e::DESC);
        };
    };
}

/// Generates an event's `__emit`: not API.
///
/// Its parameters take names of the macro's own (`__cotrace_f0`..), never the field names: a
/// field may then be named like anything in scope (a sibling event, a lowercase const or unit
/// struct of the parent module), which as a parameter pattern would not compile.
#[doc(hidden)]
#[macro_export]
macro_rules! __cotrace_emit {
    ([$(($arg:ident $aty:ty))*] [$($unused:ident)*] []) => {
        #[doc(hidden)]
        #[cold]
        #[inline(never)]
        #[allow(clippy::too_many_arguments)]
        pub fn __emit(__cotrace_ip: usize, $($arg: $aty),*) {
            Self::__EVENT.__emit(__cotrace_ip, &[$($crate::Field::value(&$arg)),*]);
        }
    };
    ([$($done:tt)*] [$name:ident $($names:ident)*] [$field:ident : $ty:ty $(, $($rest:tt)*)?]) => {
        $crate::__cotrace_emit! { [$($done)* ($name $ty)] [$($names)*] [$($($rest)*)?] }
    };
    // More fields than names: the compile-time check reports "at most 32 fields".
    ([$($done:tt)*] [] [$($rest:tt)+]) => {};
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
