//! Names at run time: what each tracer registers, and declarations whose names collide.
//!
//! - a raw identifier (`r#type`) registers as `type`;
//! - two `mod net` providers in different modules make one LTTng provider listing both modules'
//!   events; an event declared in both (`net::send` twice) is refused, in both modules and for
//!   both tracers, with a message naming the two modules, and only it;
//! - `a_b::c` and `a::b_c` would both be kernel event `a_b_c`: the kernel side of both is
//!   refused (never merged), their LTTng side works;
//! - an event LTTng refuses fails alone: its provider's other events register.
//!
//! Runs on the host (LTTng is real, user_events missing) and in the user_events VM
//! (scripts/test.sh's facade step), where the kernel side is real too.

use cotrace::{Event, EventDesc, FieldDesc, FieldKind, Level, Registration};

mod first {
    cotrace::provider! {
        /// One half of provider `net`.
        pub mod net {
            /// Declared here and in `second::net`.
            fn send(n: u32);
            /// Only here.
            fn recv(n: u32);
        }
    }
}

mod second {
    cotrace::provider! {
        /// The other half of provider `net`.
        pub mod net {
            /// Declared here and in `first::net`.
            fn send(n: u64);
            /// Only here.
            fn accept(fd: u32);
        }
    }
}

mod clash {
    cotrace::provider! {
        /// Kernel name `a_b_c`.
        pub mod a_b { fn c(x: u32); }
    }
    cotrace::provider! {
        /// Kernel name `a_b_c` as well.
        pub mod a { fn b_c(x: u32); }
    }
}

cotrace::provider! {
    /// Raw identifiers.
    pub mod raw {
        /// Fields named with Rust keywords.
        fn kinds(r#type: u32, r#match: &str);
    }
}

cotrace::provider! {
    /// A provider with one event LTTng accepts, next to one it refuses (below).
    pub mod mixed {
        /// Fine for both tracers.
        fn good(n: u32);
    }
}

/// An event the macros would refuse at compile time (a field starting with `_`), built by hand
/// as a dynamic source of events could: LTTng must refuse it alone.
static BAD: Event = Event::__new(EventDesc {
    provider: "mixed",
    name: "bad",
    kernel_name: "mixed_bad",
    module_path: "names::mixed",
    level: Level::Info,
    persist: false,
    multi_format: false,
    fields: &[FieldDesc {
        name: "_hidden",
        kind: FieldKind::U32,
    }],
});
#[cotrace::__macro_support::distributed_slice(cotrace::__macro_support::EVENTS)]
#[linkme(crate = cotrace::__macro_support::linkme)]
static BAD_REGISTERED: &Event = &BAD;

fn events(status: &cotrace::Status, lttng_name: &str) -> Vec<cotrace::EventStatus> {
    status
        .events
        .iter()
        .filter(|e| e.lttng_name == lttng_name)
        .cloned()
        .collect()
}

fn one(status: &cotrace::Status, lttng_name: &str) -> cotrace::EventStatus {
    let mut found = events(status, lttng_name);
    assert_eq!(found.len(), 1, "{lttng_name} in\n{status}");
    found.remove(0)
}

fn kernel_ok() -> bool {
    cotrace::cotrace_kernel::availability().is_ok()
}

fn failed(registration: &Registration) -> &str {
    match registration {
        Registration::Failed(why) => why,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn raw_identifiers_register_without_r_hash() {
    let desc = raw::kinds.event().desc();
    let names: Vec<_> = desc.fields.iter().map(|f| f.name).collect();
    assert_eq!(names, ["type", "match"]);
    let status = cotrace::init();
    let kinds = one(&status, "raw:kinds");
    assert_eq!(kinds.lttng, Registration::Registered, "{status}");
    if kernel_ok() {
        assert_eq!(kinds.kernel, Registration::Registered, "{status}");
    }
}

#[test]
fn same_provider_in_two_modules_is_one_lttng_provider() {
    let status = cotrace::init();
    for name in ["net:recv", "net:accept"] {
        let e = one(&status, name);
        assert_eq!(e.lttng, Registration::Registered, "{name}:\n{status}");
        if kernel_ok() {
            assert_eq!(e.kernel, Registration::Registered, "{name}:\n{status}");
        }
    }
}

#[test]
fn an_event_declared_twice_is_refused_in_both_places() {
    let status = cotrace::init();
    let sends = events(&status, "net:send");
    assert_eq!(sends.len(), 2, "{status}");
    for e in &sends {
        for why in [failed(&e.lttng), failed(&e.kernel)] {
            assert!(
                why.contains("declared twice")
                    && why.contains("first::net")
                    && why.contains("second::net"),
                "{why}"
            );
        }
    }
    assert!(!first::net::send.is_enabled() && !second::net::send.is_enabled());
}

#[test]
fn kernel_names_that_collide_are_refused_not_merged() {
    let status = cotrace::init();
    for name in ["a_b:c", "a:b_c"] {
        let e = one(&status, name);
        assert_eq!(e.kernel_name, "a_b_c");
        let why = failed(&e.kernel);
        assert!(
            why.contains("a_b_c") && why.contains("a_b:c") && why.contains("a:b_c"),
            "{name}: {why}"
        );
        assert_eq!(e.lttng, Registration::Registered, "{name}:\n{status}");
    }
}

#[test]
fn an_event_lttng_refuses_fails_alone() {
    let status = cotrace::init();
    let good = one(&status, "mixed:good");
    assert_eq!(good.lttng, Registration::Registered, "{status}");
    let bad = one(&status, "mixed:bad");
    let why = failed(&bad.lttng);
    assert!(why.contains("_hidden"), "{why}");
    if kernel_ok() {
        // The kernel has no rule against a leading underscore.
        assert_eq!(bad.kernel, Registration::Registered, "{status}");
        assert_eq!(good.kernel, Registration::Registered, "{status}");
    }
}
