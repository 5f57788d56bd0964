//! Every declaration error, found before any system call, with a message that says what is
//! wrong. Runs anywhere (no kernel needed). Also mirrors dyn_test.c's parse cases through the
//! typed builder and `FieldType`'s parser.

use cotrace_kernel::{
    EventFormat, FieldType, FormatError, MAX_FIELDS, MAX_FIXED_SIZE, MAX_NAME_ARGS,
};

fn err(r: Result<EventFormat, FormatError>) -> FormatError {
    r.expect_err("the declaration should have been refused")
}

#[test]
fn event_names() {
    assert_eq!(err(EventFormat::new("")), FormatError::EmptyName);
    let long = "n".repeat(256);
    assert_eq!(
        err(EventFormat::new(&long)),
        FormatError::NameTooLong { len: 256, max: 255 }
    );
    assert!(EventFormat::new(&"n".repeat(255)).is_ok());
    for (bad, position) in [
        ("9lives", 0),
        ("has space", 3),
        ("a:flag", 1),
        ("semi;colon", 4),
        ("dash-ed", 4),
        ("ünï", 0),
    ] {
        let e = err(EventFormat::new(bad));
        assert_eq!(
            e,
            FormatError::InvalidName {
                name: bad.into(),
                position
            },
            "{bad}"
        );
        let message = e.to_string();
        assert!(
            message.contains(bad) && message.contains("letters"),
            "{message}"
        );
    }
}

#[test]
fn field_names() {
    let base = || EventFormat::new("ev").unwrap();
    assert_eq!(
        err(base().field("", FieldType::U8)),
        FormatError::InvalidFieldName {
            field: String::new(),
            position: 0
        }
    );
    assert_eq!(
        err(base().field("a b", FieldType::U8)),
        FormatError::InvalidFieldName {
            field: "a b".into(),
            position: 1
        }
    );
    assert_eq!(
        err(base().field("1st", FieldType::U8)),
        FormatError::InvalidFieldName {
            field: "1st".into(),
            position: 0
        }
    );
    let e = err(base().field("common_pid", FieldType::S32));
    assert_eq!(
        e,
        FormatError::ReservedFieldName {
            field: "common_pid".into()
        }
    );
    assert!(e.to_string().contains("reserves"), "{e}");
    let e = err(base()
        .field("x", FieldType::U8)
        .unwrap()
        .field("x", FieldType::U16));
    assert_eq!(e, FormatError::DuplicateField { field: "x".into() });
    assert!(e.to_string().contains("twice"), "{e}");
}

#[test]
fn field_count_and_total_length() {
    let mut format = EventFormat::new("ev").unwrap();
    for i in 0..MAX_FIELDS {
        format = format.field(&format!("f{i}"), FieldType::U8).unwrap();
    }
    let e = err(format.field("one_more", FieldType::U8));
    assert_eq!(e, FormatError::TooManyFields { max: MAX_FIELDS });

    // 20 fields of "; __data_loc char[] field_with_long_name_NN" pass 512 bytes.
    let mut format = EventFormat::new("ev").unwrap();
    let mut last = Ok(());
    for i in 0..20 {
        match format
            .clone()
            .field(&format!("field_with_long_name_{i:02}"), FieldType::Str)
        {
            Ok(f) => format = f,
            Err(e) => {
                last = Err(e);
                break;
            }
        }
    }
    let e = last.expect_err("should pass the 512-byte limit");
    let FormatError::TooLong { len, max } = e else {
        panic!("{e:?}")
    };
    assert_eq!(max, MAX_NAME_ARGS);
    assert!(
        len > MAX_NAME_ARGS && format.as_str().len() < MAX_NAME_ARGS,
        "{len}"
    );
    assert!(e.to_string().contains("512"), "{e}");
}

#[test]
fn char_array_lengths() {
    // dyn_test.c: char[20] parses; char[9999] (> 1024) does not.
    let ok = EventFormat::new("ev")
        .unwrap()
        .field("a", FieldType::Chars(20))
        .unwrap();
    assert_eq!(ok.as_str(), "ev char[20] a");
    assert!(
        EventFormat::new("ev")
            .unwrap()
            .field("a", FieldType::Chars(1024))
            .is_ok()
    );
    for n in [0, 1025, 9999] {
        let e = err(EventFormat::new("ev")
            .unwrap()
            .field("a", FieldType::Chars(n)));
        assert_eq!(e, FormatError::CharsLength { n });
        assert!(e.to_string().contains("1024"), "{e}");
    }
}

#[test]
fn fixed_part_limit() {
    // Four char[1024] fields are 4096 bytes: more than MAX_FIXED_SIZE (4064, the largest
    // payload ftrace records).
    let mut format = EventFormat::new("ev").unwrap();
    for i in 0..3 {
        format = format
            .field(&format!("c{i}"), FieldType::Chars(1024))
            .unwrap();
    }
    assert_eq!(format.fixed_size(), 3072);
    let e = err(format.clone().field("c3", FieldType::Chars(1024)));
    assert_eq!(
        e,
        FormatError::FixedPartTooLarge {
            size: 4096,
            max: MAX_FIXED_SIZE
        }
    );
    assert!(e.to_string().contains("__data_loc"), "{e}");
    assert!(format.clone().field("last", FieldType::Chars(992)).is_ok());
    assert!(format.clone().field("last", FieldType::Chars(993)).is_err());
    // A string needs room for at least its NUL besides its 4-byte word.
    let format = format.field("c3", FieldType::Chars(987)).unwrap();
    assert!(format.clone().field("s", FieldType::Str).is_ok());
    assert_eq!(
        err(format
            .clone()
            .field("b", FieldType::Chars(1))
            .unwrap()
            .field("s", FieldType::Str)),
        FormatError::FixedPartTooLarge {
            size: 4065,
            max: MAX_FIXED_SIZE
        }
    );
}

#[test]
fn type_names_parse_like_the_kernel_and_refuse_what_we_do_not_support() {
    for (text, ty) in [
        ("u64", FieldType::U64),
        ("u32", FieldType::U32),
        ("u16", FieldType::U16),
        ("u8", FieldType::U8),
        ("s64", FieldType::S64),
        ("i32", FieldType::S32),
        ("char[20]", FieldType::Chars(20)),
        ("__data_loc char[]", FieldType::Str),
        ("__data_loc u8[]", FieldType::Bytes),
    ] {
        assert_eq!(text.parse::<FieldType>(), Ok(ty), "{text}");
    }
    // dyn_test.c's refused forms, plus kernel types this crate does not offer.
    for text in [
        "char[aa]",
        "char[0x0000000000001]",
        "char[0x14]",
        "struct custom",
        "long",
        "int",
        "__rel_loc char[]",
        "__rel_loc u8[]",
        "float",
        "",
    ] {
        let e = text.parse::<FieldType>().unwrap_err();
        assert_eq!(
            e,
            FormatError::UnsupportedType { ty: text.into() },
            "{text}"
        );
        assert!(e.to_string().contains("u8..u64"), "{e}");
    }
    assert_eq!(
        "char[9999]".parse::<FieldType>(),
        Err(FormatError::CharsLength { n: 9999 })
    );
}

#[test]
fn builder_and_slice_forms_agree() {
    let fields = [
        ("a", FieldType::U8),
        ("b", FieldType::Str),
        ("c", FieldType::Bytes),
    ];
    let built = EventFormat::new("ev")
        .and_then(|f| f.field("a", FieldType::U8))
        .and_then(|f| f.field("b", FieldType::Str))
        .and_then(|f| f.field("c", FieldType::Bytes))
        .unwrap();
    assert_eq!(EventFormat::with_fields("ev", &fields).unwrap(), built);
    assert_eq!(
        built.to_string(),
        "ev u8 a; __data_loc char[] b; __data_loc u8[] c"
    );
    assert_eq!(built.fields().len(), 3);
    assert_eq!(built.fields()[1].name(), "b");
    assert_eq!(built.fields()[1].ty(), FieldType::Str);
    assert_eq!(
        EventFormat::with_fields("ev", &[("a", FieldType::U8), ("a", FieldType::U8)]),
        Err(FormatError::DuplicateField { field: "a".into() })
    );
}
