//! Registration: bad definitions are refused with clear errors; mismatched values are refused
//! without panicking; unregistration detaches LTTng and releases the word.

mod common;

use common::{Lttng, isolated};
use cotrace_ust::{
    EnumLabel, Error, EventSpec, FieldSpec, FieldType, FireError, Loglevel, Value,
    register_provider,
};
use cotrace_word::EnableWord;

static W: EnableWord = EnableWord::new();

const fn ev(
    provider: &'static str,
    event: &'static str,
    fields: &'static [FieldSpec],
) -> EventSpec {
    EventSpec {
        provider,
        event,
        loglevel: Loglevel::Info,
        fields,
        word: &W,
    }
}

const U: FieldSpec = FieldSpec {
    name: "f",
    ty: FieldType::U8,
};
static TOO_MANY: [FieldSpec; 33] = {
    const N: [&str; 33] = [
        "f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9", "f10", "f11", "f12", "f13",
        "f14", "f15", "f16", "f17", "f18", "f19", "f20", "f21", "f22", "f23", "f24", "f25", "f26",
        "f27", "f28", "f29", "f30", "f31", "f32",
    ];
    let mut out = [U; 33];
    let mut i = 0;
    while i < 33 {
        out[i] = FieldSpec {
            name: N[i],
            ty: FieldType::U8,
        };
        i += 1;
    }
    out
};

static BAD_PROVIDER: EventSpec = ev("bad-provider", "e", &[]);
static BAD_EVENT: EventSpec = ev("p_ok", "no spaces", &[]);
static BAD_EVENT2: EventSpec = ev("p_ok", "9starts_with_digit", &[]);
static LONG_EVENT: EventSpec = ev(
    "p_ok",
    {
        "e_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    },
    &[],
);
static MANY_FIELDS: EventSpec = ev("p_ok", "many", &TOO_MANY);
static DUP_FIELDS: EventSpec = ev("p_ok", "dup", &[U, U]);
static UNDERSCORE_FIELD: EventSpec = ev(
    "p_ok",
    "under",
    &[FieldSpec {
        name: "_hidden",
        ty: FieldType::U8,
    }],
);
static EMPTY_ARRAY: EventSpec = ev(
    "p_ok",
    "arr",
    &[FieldSpec {
        name: "a",
        ty: FieldType::ByteArray(0),
    }],
);
static EMPTY_ENUM: EventSpec = ev(
    "p_ok",
    "enum0",
    &[FieldSpec {
        name: "e",
        ty: FieldType::Enum(&[]),
    }],
);
static BACKWARDS_ENUM: EventSpec = ev(
    "p_ok",
    "enum1",
    &[FieldSpec {
        name: "e",
        ty: FieldType::Enum(&[EnumLabel {
            label: "X",
            start: 5,
            end: 4,
        }]),
    }],
);
static OTHER_PROVIDER: EventSpec = ev("p_other", "e", &[]);
static GOOD_A: EventSpec = ev("p_ok", "a", &[U]);

#[test]
fn bad_definitions_are_refused_with_clear_errors() {
    isolated("bad_definitions_are_refused_with_clear_errors", || {
        let cases: [(&'static str, &[&'static EventSpec], &str); 12] = [
            (
                "p_ok",
                &[&EMPTY_ENUM],
                "enumeration field \"e\" of event \"enum0\"",
            ),
            (
                "p_ok",
                &[&BACKWARDS_ENUM],
                "enumeration field \"e\" of event \"enum1\"",
            ),
            (
                "bad-provider",
                &[&BAD_PROVIDER],
                "invalid LTTng provider name \"bad-provider\"",
            ),
            (
                "p_ok",
                &[&BAD_EVENT],
                "invalid LTTng event name \"no spaces\"",
            ),
            (
                "p_ok",
                &[&BAD_EVENT2],
                "invalid LTTng event name \"9starts_with_digit\"",
            ),
            ("p_ok", &[&LONG_EVENT], "invalid LTTng event name"),
            (
                "p_ok",
                &[&MANY_FIELDS],
                "event \"many\" has 33 fields; at most 32 are supported",
            ),
            (
                "p_ok",
                &[&DUP_FIELDS],
                "invalid field name \"f\" in event \"dup\"",
            ),
            (
                "p_ok",
                &[&UNDERSCORE_FIELD],
                "invalid field name \"_hidden\"",
            ),
            (
                "p_ok",
                &[&EMPTY_ARRAY],
                "byte array field \"a\" of event \"arr\"",
            ),
            (
                "p_ok",
                &[&OTHER_PROVIDER],
                "does not belong to provider \"p_ok\"",
            ),
            ("p_ok", &[&GOOD_A, &GOOD_A], "each event name once"),
        ];
        for (provider, events, message) in cases {
            let err = register_provider(provider, events).expect_err(message);
            assert!(
                err.to_string().contains(message),
                "{err} / expected {message}"
            );
        }
        assert!(matches!(
            register_provider("p_ok", &[]),
            Err(Error::InvalidEventList(_))
        ));
        // Nothing half-registered: the good name is still free.
        let p = register_provider("p_ok", &[&GOOD_A]).unwrap();
        assert!(p.is_registered_with_lttng());
        assert_eq!(
            register_provider("p_ok", &[&GOOD_A]).unwrap_err(),
            Error::AlreadyRegistered("p_ok".into())
        );
        drop(p);
        let again = register_provider("p_ok", &[&GOOD_A]).unwrap();
        assert!(again.is_registered_with_lttng());
    });
}

static TWO_WORD: EnableWord = EnableWord::new();
static TWO: EventSpec = EventSpec {
    provider: "p_values",
    event: "two",
    loglevel: Loglevel::Info,
    fields: &[
        FieldSpec {
            name: "n",
            ty: FieldType::U32,
        },
        FieldSpec {
            name: "arr",
            ty: FieldType::ByteArray(2),
        },
    ],
    word: &TWO_WORD,
};

#[test]
fn mismatched_values_are_refused_without_panic() {
    isolated("mismatched_values_are_refused_without_panic", || {
        let p = register_provider("p_values", &[&TWO]).unwrap();
        let e = p.event("two").unwrap();
        assert_eq!(
            e.fire_enabled(&[Value::U32(1)]),
            Err(FireError::WrongCount {
                expected: 2,
                got: 1
            })
        );
        assert_eq!(
            e.fire_enabled(&[Value::I32(1), Value::Bytes(&[1, 2])]),
            Err(FireError::WrongType { index: 0 })
        );
        assert_eq!(
            e.fire_enabled(&[Value::U32(1), Value::Bytes(&[1, 2, 3])]),
            Err(FireError::WrongType { index: 1 })
        );
        assert_eq!(
            e.fire_enabled(&[Value::U32(1), Value::Bytes(&[1, 2])]),
            Ok(())
        );
        // Disabled: nothing is even looked at.
        assert_eq!(e.fire(&[]), Ok(()));
        p.unregister();
        assert_eq!(
            e.fire_enabled(&[Value::U32(1), Value::Bytes(&[1, 2])]),
            Err(FireError::Unregistered)
        );
    });
}

static LIVE_WORD: EnableWord = EnableWord::new();
static LIVE: EventSpec = EventSpec {
    provider: "p_live",
    event: "ev",
    loglevel: Loglevel::Info,
    fields: &[FieldSpec {
        name: "n",
        ty: FieldType::U64,
    }],
    word: &LIVE_WORD,
};

#[test]
fn registering_into_a_running_session_then_unregistering() {
    isolated(
        "registering_into_a_running_session_then_unregistering",
        || {
            let mut lttng = Lttng::start("live");
            lttng.create("lv");
            lttng.lttng(&["enable-event", "-u", "p_live:*", "-s", "lv"]);
            lttng.lttng(&["start", "lv"]);
            // This test process is the traced application (liblttng-ust loads on registration).
            let p = register_provider("p_live", &[&LIVE]).unwrap();
            let e = p.event("ev").unwrap();
            // The running session picked the new event up during registration.
            assert_eq!(LIVE_WORD.snapshot().users(), 1);
            assert_eq!(e.attached(), 1);
            e.fire(&[Value::U64(77)]).unwrap();
            p.unregister();
            assert_eq!(LIVE_WORD.snapshot().raw(), 0);
            assert_eq!(e.fire(&[Value::U64(78)]), Ok(()));
            lttng.lttng(&["stop", "lv"]);
            let events = lttng.events("lv");
            let ns: Vec<&str> = events.iter().map(|e| e.get("n")).collect();
            assert_eq!(ns, ["77"]);
        },
    );
}
