// Shared by the traced test application (tests/bin/ust_test_app.rs) and the tests: the events
// and the table of values that must round-trip through LTTng and babeltrace2.
#![allow(dead_code)]

use cotrace_ust::{EnumLabel, EventSpec, FieldSpec, FieldType, Loglevel, Value};
use cotrace_word::EnableWord;

pub const PROVIDER: &str = "cotrace_test";

pub static ALL_TYPES_WORD: EnableWord = EnableWord::new();
pub static ALL_TYPES: EventSpec = EventSpec {
    provider: PROVIDER,
    event: "all_types",
    loglevel: Loglevel::Info,
    fields: &[
        FieldSpec {
            name: "row",
            ty: FieldType::U32,
        },
        FieldSpec {
            name: "a_i8",
            ty: FieldType::I8,
        },
        FieldSpec {
            name: "a_i16",
            ty: FieldType::I16,
        },
        FieldSpec {
            name: "a_i32",
            ty: FieldType::I32,
        },
        FieldSpec {
            name: "a_i64",
            ty: FieldType::I64,
        },
        FieldSpec {
            name: "a_u8",
            ty: FieldType::U8,
        },
        FieldSpec {
            name: "a_u16",
            ty: FieldType::U16,
        },
        FieldSpec {
            name: "a_u32",
            ty: FieldType::U32,
        },
        FieldSpec {
            name: "a_u64",
            ty: FieldType::U64,
        },
        FieldSpec {
            name: "a_bool",
            ty: FieldType::Bool,
        },
        FieldSpec {
            name: "a_f32",
            ty: FieldType::F32,
        },
        FieldSpec {
            name: "a_f64",
            ty: FieldType::F64,
        },
        FieldSpec {
            name: "a_str",
            ty: FieldType::Str,
        },
        FieldSpec {
            name: "a_bytes",
            ty: FieldType::Bytes,
        },
        FieldSpec {
            name: "a_arr",
            ty: FieldType::ByteArray(3),
        },
        FieldSpec {
            name: "a_enum",
            ty: FieldType::Enum(COLORS),
        },
    ],
    word: &ALL_TYPES_WORD,
};

pub const COLORS: &[EnumLabel] = &[
    EnumLabel {
        label: "RED",
        start: 0,
        end: 0,
    },
    EnumLabel {
        label: "GREEN",
        start: 1,
        end: 1,
    },
    EnumLabel {
        label: "MANY",
        start: 10,
        end: 20,
    },
    EnumLabel {
        label: "NEGATIVE",
        start: -5,
        end: -1,
    },
];

pub static COUNTED_WORD: EnableWord = EnableWord::new();
pub static COUNTED: EventSpec = EventSpec {
    provider: PROVIDER,
    event: "counted",
    loglevel: Loglevel::Notice,
    fields: &[
        FieldSpec {
            name: "n",
            ty: FieldType::U32,
        },
        FieldSpec {
            name: "s",
            ty: FieldType::Str,
        },
    ],
    word: &COUNTED_WORD,
};

pub static INFO_WORD: EnableWord = EnableWord::new();
pub static LVL_INFO: EventSpec = EventSpec {
    provider: PROVIDER,
    event: "lvl_info",
    loglevel: Loglevel::Info,
    fields: &[FieldSpec {
        name: "n",
        ty: FieldType::U32,
    }],
    word: &INFO_WORD,
};

pub static DEBUG_WORD: EnableWord = EnableWord::new();
pub static LVL_DEBUG: EventSpec = EventSpec {
    provider: PROVIDER,
    event: "lvl_debug",
    loglevel: Loglevel::Debug,
    fields: &[FieldSpec {
        name: "n",
        ty: FieldType::U32,
    }],
    word: &DEBUG_WORD,
};

pub static TRIGGER_WORD: EnableWord = EnableWord::new();
pub static TRIGGER_EV: EventSpec = EventSpec {
    provider: PROVIDER,
    event: "trigger_ev",
    loglevel: Loglevel::Warning,
    fields: &[FieldSpec {
        name: "code",
        ty: FieldType::I32,
    }],
    word: &TRIGGER_WORD,
};

pub static EVENTS: [&EventSpec; 5] = [&ALL_TYPES, &COUNTED, &LVL_INFO, &LVL_DEBUG, &TRIGGER_EV];

/// One row of the round-trip table: the values fired, and what babeltrace2 must print for
/// each field (in field order, `name = text`).
pub struct Row {
    pub values: [Value<'static>; 16],
    pub expected: &'static [(&'static str, &'static str)],
}

pub fn rows() -> Vec<Row> {
    vec![
        Row {
            values: [
                Value::U32(0),
                Value::I8(i8::MIN),
                Value::I16(i16::MIN),
                Value::I32(i32::MIN),
                Value::I64(i64::MIN),
                Value::U8(0),
                Value::U16(0),
                Value::U32(0),
                Value::U64(0),
                Value::Bool(false),
                Value::F32(-1.5),
                Value::F64(-0.25),
                Value::Str(""),
                Value::Bytes(&[]),
                Value::Bytes(&[0, 1, 2]),
                Value::Enum(0),
            ],
            expected: &[
                ("row", "0"),
                ("a_i8", "-128"),
                ("a_i16", "-32768"),
                ("a_i32", "-2147483648"),
                ("a_i64", "-9223372036854775808"),
                ("a_u8", "0"),
                ("a_u16", "0"),
                ("a_u32", "0"),
                ("a_u64", "0"),
                ("a_bool", "0"),
                ("a_f32", "-1.5"),
                ("a_f64", "-0.25"),
                ("a_str", "\"\""),
                ("_a_bytes_length", "0"),
                ("a_bytes", "[ ]"),
                ("a_arr", "[ [0] = 0x0, [1] = 0x1, [2] = 0x2 ]"),
                ("a_enum", "( \"RED\" : container = 0 )"),
            ],
        },
        Row {
            values: [
                Value::U32(1),
                Value::I8(i8::MAX),
                Value::I16(i16::MAX),
                Value::I32(i32::MAX),
                Value::I64(i64::MAX),
                Value::U8(u8::MAX),
                Value::U16(u16::MAX),
                Value::U32(u32::MAX),
                Value::U64(u64::MAX),
                Value::Bool(true),
                Value::F32(3.25),
                Value::F64(1e300),
                Value::Str("héllo wörld ✓ 日本"),
                Value::Bytes(&[0xde, 0xad, 0xbe, 0xef]),
                Value::Bytes(&[0xff, 0x80, 0x7f]),
                Value::Enum(15),
            ],
            expected: &[
                ("row", "1"),
                ("a_i8", "127"),
                ("a_i16", "32767"),
                ("a_i32", "2147483647"),
                ("a_i64", "9223372036854775807"),
                ("a_u8", "255"),
                ("a_u16", "65535"),
                ("a_u32", "4294967295"),
                ("a_u64", "18446744073709551615"),
                ("a_bool", "1"),
                ("a_f32", "3.25"),
                ("a_f64", "1e+300"),
                ("a_str", "\"héllo wörld ✓ 日本\""),
                ("_a_bytes_length", "4"),
                (
                    "a_bytes",
                    "[ [0] = 0xDE, [1] = 0xAD, [2] = 0xBE, [3] = 0xEF ]",
                ),
                ("a_arr", "[ [0] = 0xFF, [1] = 0x80, [2] = 0x7F ]"),
                ("a_enum", "( \"MANY\" : container = 15 )"),
            ],
        },
        Row {
            values: [
                Value::U32(2),
                Value::I8(-1),
                Value::I16(-2),
                Value::I32(-3),
                Value::I64(-4),
                Value::U8(1),
                Value::U16(2),
                Value::U32(3),
                Value::U64(4),
                Value::Bool(true),
                Value::F32(0.0),
                Value::F64(2.5),
                Value::Str("cut\0here"),
                Value::Bytes(&[7]),
                Value::Bytes(&[1, 2, 3]),
                Value::Enum(-3),
            ],
            expected: &[
                ("row", "2"),
                ("a_i8", "-1"),
                ("a_i16", "-2"),
                ("a_i32", "-3"),
                ("a_i64", "-4"),
                ("a_u8", "1"),
                ("a_u16", "2"),
                ("a_u32", "3"),
                ("a_u64", "4"),
                ("a_bool", "1"),
                ("a_f32", "0"),
                ("a_f64", "2.5"),
                ("a_str", "\"cut\""),
                ("_a_bytes_length", "1"),
                ("a_bytes", "[ [0] = 0x7 ]"),
                ("a_arr", "[ [0] = 0x1, [1] = 0x2, [2] = 0x3 ]"),
                ("a_enum", "( \"NEGATIVE\" : container = -3 )"),
            ],
        },
        // Longer than the 256-byte staging buffer: written field by field.
        Row {
            values: [
                Value::U32(3),
                Value::I8(5),
                Value::I16(-300),
                Value::I32(70000),
                Value::I64(-5_000_000_000),
                Value::U8(200),
                Value::U16(60000),
                Value::U32(3_000_000_000),
                Value::U64(10_000_000_000_000_000_000),
                Value::Bool(false),
                Value::F32(-0.5),
                Value::F64(123.125),
                Value::Str(LONG),
                Value::Bytes(&[1, 2]),
                Value::Bytes(&[9, 8, 7]),
                Value::Enum(i64::MAX),
            ],
            expected: &[
                ("row", "3"),
                ("a_i8", "5"),
                ("a_i16", "-300"),
                ("a_i32", "70000"),
                ("a_i64", "-5000000000"),
                ("a_u8", "200"),
                ("a_u16", "60000"),
                ("a_u32", "3000000000"),
                ("a_u64", "10000000000000000000"),
                ("a_bool", "0"),
                ("a_f32", "-0.5"),
                ("a_f64", "123.125"),
                ("a_str", LONG_QUOTED),
                ("_a_bytes_length", "2"),
                ("a_bytes", "[ [0] = 0x1, [1] = 0x2 ]"),
                ("a_arr", "[ [0] = 0x9, [1] = 0x8, [2] = 0x7 ]"),
                ("a_enum", "( <unknown> : container = 9223372036854775807 )"),
            ],
        },
    ]
}

/// 296 bytes: longer than cotrace-ust's staging buffer.
pub const LONG: &str = "0123456789abcdefghijklmnopqrstuvwxyz-é-0123456789abcdefghijklmnopqrstuvwxyz-é-0123456789abcdefghijklmnopqrstuvwxyz-é-0123456789abcdefghijklmnopqrstuvwxyz-é-0123456789abcdefghijklmnopqrstuvwxyz-é-0123456789abcdefghijklmnopqrstuvwxyz-é-0123456789abcdefghijklmnopqrstuvwxyz-é-0123456789abcdef";
pub const LONG_QUOTED: &str = "\"0123456789abcdefghijklmnopqrstuvwxyz-é-0123456789abcdefghijklmnopqrstuvwxyz-é-0123456789abcdefghijklmnopqrstuvwxyz-é-0123456789abcdefghijklmnopqrstuvwxyz-é-0123456789abcdefghijklmnopqrstuvwxyz-é-0123456789abcdefghijklmnopqrstuvwxyz-é-0123456789abcdefghijklmnopqrstuvwxyz-é-0123456789abcdef\"";
