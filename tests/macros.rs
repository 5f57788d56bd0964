//! The macros, in an unfriendly namespace: this file shadows `concat!`, `stringify!` and
//! `compile_error!`, and has a module named `core`, so the expansions must only use `$crate`
//! paths. Events are declared at different depths and fired by full path.

#![allow(unused_macros, dead_code)]

use std::cell::Cell;

macro_rules! concat {
    ($($t:tt)*) => {
        compile_error!("the user's concat! was used")
    };
}
macro_rules! stringify {
    ($($t:tt)*) => {
        "the user's stringify! was used"
    };
}
mod core {}
mod linkme {}

use cotrace::{FieldKind, Level};

cotrace::provider! {
    /// Every field type.
    pub mod every_type {
        /// All of them, once.
        #[level(warn)]
        fn all(a: u8, b: u16, c: u32, d: u64, e: usize, f: i8, g: i16, h: i32, i: i64, j: isize,
               k: bool, l: f32, m: f64, n: &str, o: &[u8]);
        /// No field at all, default level.
        fn none();
        #[doc = "Attributes in any order"]
        #[level(debug)]
        /// and more docs after the level.
        fn trailing_comma(x: u32,);
    }
}

mod nested {
    pub mod deeper {
        cotrace::provider! {
            pub mod many {
                #[level(error)]
                fn twenty(f0: u8, f1: u8, f2: u8, f3: u8, f4: u8, f5: u8, f6: u8, f7: u8,
                          f8: u8, f9: u8, f10: u64, f11: u64, f12: u64, f13: u64, f14: u64,
                          f15: &str, f16: &str, f17: &str, f18: &[u8], f19: i64);
            }
        }
    }
}

#[test]
fn descriptors_follow_the_declaration() {
    let all = every_type::all.event().desc();
    assert_eq!(all.provider, "every_type");
    assert_eq!(all.name, "all");
    assert_eq!(all.kernel_name, "every_type_all");
    assert_eq!(all.lttng_name(), "every_type:all");
    assert_eq!(all.level, Level::Warn);
    let kinds: Vec<_> = all.fields.iter().map(|f| (f.name, f.kind)).collect();
    use FieldKind::*;
    assert_eq!(
        kinds,
        [
            ("a", U8),
            ("b", U16),
            ("c", U32),
            ("d", U64),
            ("e", U64),
            ("f", I8),
            ("g", I16),
            ("h", I32),
            ("i", I64),
            ("j", I64),
            ("k", Bool),
            ("l", F32),
            ("m", F64),
            ("n", Str),
            ("o", Bytes),
        ]
    );
    assert!(every_type::none.event().desc().fields.is_empty());
    assert_eq!(every_type::none.event().desc().level, Level::Info);
    assert_eq!(
        every_type::trailing_comma.event().desc().level,
        Level::Debug
    );
    let many = nested::deeper::many::twenty.event().desc();
    assert_eq!(many.fields.len(), 20);
    assert_eq!(many.fields[19].name, "f19");
    assert_eq!(many.level, Level::Error);
}

#[test]
fn every_event_is_in_the_registry_once() {
    let names: Vec<_> = cotrace::events().map(|e| e.desc().lttng_name()).collect();
    for name in [
        "every_type:all",
        "every_type:none",
        "every_type:trailing_comma",
        "many:twenty",
    ] {
        assert_eq!(
            names.iter().filter(|n| *n == name).count(),
            1,
            "{name} in {names:?}"
        );
    }
}

/// Fires `every_type::all` with an argument whose evaluation is counted.
fn fire_all(counter: &Cell<u32>) {
    let bump = || {
        counter.set(counter.get() + 1);
        7u64
    };
    let owned = String::from("owned string");
    cotrace::fire!(every_type::all(
        1,
        2,
        3,
        bump(),
        5,
        -1,
        -2,
        -3,
        -4,
        -5,
        true,
        1.5,
        2.5,
        &owned,
        b"bytes"
    ));
}

#[test]
fn disabled_call_site_evaluates_nothing_enabled_evaluates_once() {
    let counter = Cell::new(0);
    let event = every_type::all.event();
    assert!(!event.is_enabled());
    fire_all(&counter);
    fire_all(&counter);
    assert_eq!(counter.get(), 0, "a disabled call site evaluated a field");

    // An in-process tracer counts itself in: the event fires and each field is evaluated once.
    let count = event.word().acquire_user().unwrap();
    fire_all(&counter);
    assert_eq!(counter.get(), 1);
    drop(count);
    fire_all(&counter);
    assert_eq!(counter.get(), 1, "evaluated again after the release");

    // Both tracers on (the kernel's bit, played here by an atomic OR, and a user count): still
    // one evaluation per firing.
    event.word().emulate_kernel_set();
    let count = event.word().acquire_user().unwrap();
    fire_all(&counter);
    assert_eq!(
        counter.get(),
        2,
        "both tracers on: each field must be evaluated once"
    );
    event.word().emulate_kernel_clear();
    drop(count);
    fire_all(&counter);
    assert_eq!(counter.get(), 2);
}

#[test]
fn zero_field_and_nested_events_fire() {
    cotrace::fire!(every_type::none());
    cotrace::fire!(every_type::trailing_comma(1,));
    let f = &nested::deeper::many::twenty;
    let count = f.event().word().acquire_user().unwrap();
    assert!(f.is_enabled());
    cotrace::fire!(nested::deeper::many::twenty(
        0,
        1,
        2,
        3,
        4,
        5,
        6,
        7,
        8,
        9,
        10,
        11,
        12,
        13,
        14,
        "a",
        "",
        "é",
        &[],
        i64::MIN
    ));
    drop(count);
    assert!(!f.is_enabled());
}

// Names a field may share with what is in scope of the provider's module: a sibling event, a
// lowercase const and unit struct of the parent module (glob-imported), a prelude variant, and
// Rust keywords as raw identifiers. As parameter names these would be patterns; they must not be.
#[allow(non_upper_case_globals)]
const limit: u32 = 5;
#[allow(non_camel_case_types)]
struct unit;

cotrace::provider! {
    /// Field names that collide with items in scope.
    pub mod shadowing {
        /// Fields named like the sibling event, the parent's const and unit struct, `None`.
        #[allow(non_snake_case)]
        fn first(second: u32, limit: u64, unit: &str, None: u8, r#type: i8);
        /// A field named like the sibling event.
        fn second(first: u8);
    }
}

#[test]
fn fields_may_be_named_like_items_in_scope() {
    let _ = (limit, unit);
    let names: Vec<_> = shadowing::first
        .event()
        .desc()
        .fields
        .iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(names, ["second", "limit", "unit", "None", "type"]);
    let event = shadowing::first.event();
    let guard = event.word().acquire_user().unwrap();
    cotrace::fire!(shadowing::first(1, 2, "three", 4, -5));
    cotrace::fire!(shadowing::second(1));
    drop(guard);
}
