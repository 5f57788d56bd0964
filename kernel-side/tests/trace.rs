//! Writes reach `<tracefs>/trace` with the right decoded values, one test per field type, and
//! the kernel's `print fmt` of each type is the expected one (ftrace_test.c `print_fmt`).
//! Needs user_events: scripts/test-kernel.sh runs it in the VM.
//!
//! The `trace` file prints integers as `0x<hex> (<decimal>)`, where the decimal follows the
//! kernel's generic field printer (1- and 2-byte fields unsigned, 4- and 8-byte signed), and
//! 1-byte fields as a quoted character: the hex part is the check of the bytes written.

mod common;

use cotrace_kernel::{
    EventFormat, FieldType, TRUNCATION_MARK, Value, WriteError, WriteOutcome, register,
};

/// Registers `<prefix>_...` with one field `v` of `ty`, checks its print fmt, enables it with
/// ftrace, writes `value`, and checks the decoded fields of the trace line.
fn round_trip(prefix: &str, ty: FieldType, value: Value<'_>, print_fmt: &str, expect: &str) {
    let Some(tracefs) = common::user_events(prefix) else {
        return;
    };
    let name = common::unique(prefix);
    let word = common::leak_word();
    let format = EventFormat::new(&name).unwrap().field("v", ty).unwrap();
    let reg = register(word, format).unwrap();

    let format_file = common::event_dir(tracefs, "user_events", &name).join("format");
    let text = std::fs::read_to_string(&format_file).unwrap();
    let fmt_line = text.lines().find(|l| l.starts_with("print fmt:")).unwrap();
    assert_eq!(fmt_line, format!("print fmt: {print_fmt}"));

    // Disabled: nothing is sent, nothing recorded.
    assert_eq!(reg.write(&[value]), Ok(WriteOutcome::NotEnabled));

    common::set_enabled(tracefs, &name, true);
    common::wait_kernel_bit(word, true);
    assert_eq!(reg.write(&[value]), Ok(WriteOutcome::Written));
    let line = common::wait_trace_line(tracefs, &name, &[]);
    common::set_enabled(tracefs, &name, false);
    let lines = common::trace_lines(tracefs, &name);
    assert_eq!(lines.len(), 1, "exactly one event recorded: {lines:#?}");
    assert_eq!(
        common::fields_of(&line, &name).trim_end(),
        expect,
        "line: {line}"
    );
}

#[test]
fn u8_field() {
    round_trip(
        "tr_u8",
        FieldType::U8,
        Value::U8(b'A'),
        r#""v=%u", REC->v"#,
        "v='A'(65)",
    );
}

#[test]
fn u16_field() {
    round_trip(
        "tr_u16",
        FieldType::U16,
        Value::U16(60000),
        r#""v=%u", REC->v"#,
        "v=0xea60 (60000)",
    );
}

#[test]
fn u32_field() {
    round_trip(
        "tr_u32",
        FieldType::U32,
        Value::U32(0x1234_5678),
        r#""v=%u", REC->v"#,
        "v=0x12345678 (305419896)",
    );
}

#[test]
fn u64_field() {
    round_trip(
        "tr_u64",
        FieldType::U64,
        Value::U64(0x0123_4567_89ab_cdef),
        r#""v=%llu", REC->v"#,
        "v=0x123456789abcdef (81985529216486895)",
    );
}

#[test]
fn s8_field() {
    // -5 is the byte 0xfb: printed as a character and its unsigned value.
    round_trip(
        "tr_s8",
        FieldType::S8,
        Value::S8(b'Z' as i8),
        r#""v=%d", REC->v"#,
        "v='Z'(90)",
    );
}

#[test]
fn s16_field() {
    round_trip(
        "tr_s16",
        FieldType::S16,
        Value::S16(-300),
        r#""v=%d", REC->v"#,
        "v=0xfed4 (65236)",
    );
}

#[test]
fn s32_field() {
    round_trip(
        "tr_s32",
        FieldType::S32,
        Value::S32(-70000),
        r#""v=%d", REC->v"#,
        "v=0xfffeee90 (-70000)",
    );
}

#[test]
fn s64_field() {
    round_trip(
        "tr_s64",
        FieldType::S64,
        Value::S64(i64::MIN),
        r#""v=%lld", REC->v"#,
        "v=0x8000000000000000 (-9223372036854775808)",
    );
}

#[test]
fn chars_field_padded() {
    round_trip(
        "tr_chars",
        FieldType::Chars(8),
        Value::Chars(b"abc"),
        r#""v=%s", REC->v"#,
        "v=abc",
    );
}

#[test]
fn chars_field_full_length() {
    // Exactly N bytes, no NUL: the kernel prints at most N characters.
    round_trip(
        "tr_charsfull",
        FieldType::Chars(4),
        Value::Chars(b"wxyz"),
        r#""v=%s", REC->v"#,
        "v=wxyz",
    );
}

#[test]
fn str_field() {
    round_trip(
        "tr_str",
        FieldType::Str,
        Value::Str("hello, world"),
        r#""v=%s", __get_str(v)"#,
        "v=hello, world",
    );
}

#[test]
fn empty_str_field() {
    round_trip(
        "tr_strempty",
        FieldType::Str,
        Value::Str(""),
        r#""v=%s", __get_str(v)"#,
        "v=",
    );
}

#[test]
fn bytes_field() {
    round_trip(
        "tr_bytes",
        FieldType::Bytes,
        Value::Bytes(&[1, 2, 3, 0xff]),
        r#""v=%llu", REC->v"#,
        "v=01,02,03,ff",
    );
}

#[test]
fn every_type_in_one_event_keeps_offsets_right() {
    let Some(tracefs) = common::user_events("every_type") else {
        return;
    };
    let name = common::unique("tr_all");
    let word = common::leak_word();
    let format = EventFormat::with_fields(
        &name,
        &[
            ("s", FieldType::Str),
            ("a", FieldType::U8),
            ("b", FieldType::U16),
            ("c", FieldType::Chars(5)),
            ("d", FieldType::U32),
            ("k", FieldType::Bytes),
            ("e", FieldType::S64),
            ("t", FieldType::Str),
        ],
    )
    .unwrap();
    let reg = register(word, format).unwrap();
    common::set_enabled(tracefs, &name, true);
    common::wait_kernel_bit(word, true);
    let values = [
        Value::Str("first"),
        Value::U8(b'x'),
        Value::U16(0xbeef),
        Value::Chars(b"hi"),
        Value::U32(0xdead_beef),
        Value::Bytes(&[0xaa, 0xbb]),
        Value::S64(-2),
        Value::Str("last one"),
    ];
    assert_eq!(reg.write(&values), Ok(WriteOutcome::Written));
    let line = common::wait_trace_line(tracefs, &name, &[]);
    common::set_enabled(tracefs, &name, false);
    assert_eq!(
        common::fields_of(&line, &name).trim_end(),
        "s=first a='x'(120) b=0xbeef (48879) c=hi d=0xdeadbeef (-559038737) k=aa,bb \
         e=0xfffffffffffffffe (-2) t=last one"
    );
}

#[test]
fn typed_writes_of_every_type_decode_as_checked_ones_do() {
    // `write_typed` (the path of `provider!` events) builds the payload from the values alone,
    // an iovec per dynamic value: same records as `write`, empty dynamic values included, and a
    // `char[N]` value taken by the checked path.
    let Some(tracefs) = common::user_events("typed") else {
        return;
    };
    let name = common::unique("tr_typed");
    let word = common::leak_word();
    let format = EventFormat::with_fields(
        &name,
        &[
            ("s", FieldType::Str),
            ("a", FieldType::U8),
            ("b", FieldType::U16),
            ("d", FieldType::U32),
            ("k", FieldType::Bytes),
            ("e", FieldType::S64),
            ("f", FieldType::S8),
            ("g", FieldType::S16),
            ("h", FieldType::S32),
            ("i", FieldType::U64),
            ("t", FieldType::Str),
            ("u", FieldType::Str),
            ("z", FieldType::Bytes),
        ],
    )
    .unwrap();
    let reg = register(word, format).unwrap();
    let values = |n: u32| {
        [
            Value::Str("first"),
            Value::U8(b'x'),
            Value::U16(0xbeef),
            Value::U32(n),
            Value::Bytes(&[0xaa, 0xbb]),
            Value::S64(-2),
            Value::S8(b'Z' as i8),
            Value::S16(-300),
            Value::S32(-70000),
            Value::U64(0x0123_4567_89ab_cdef),
            Value::Str(""),
            Value::Str("last one"),
            Value::Bytes(&[]),
        ]
    };
    assert_eq!(reg.write_typed(&values(0)), Ok(WriteOutcome::NotEnabled));
    common::set_enabled(tracefs, &name, true);
    common::wait_kernel_bit(word, true);
    assert_eq!(reg.write(&values(1)), Ok(WriteOutcome::Written));
    assert_eq!(reg.write_typed(&values(2)), Ok(WriteOutcome::Written));
    let checked = common::wait_trace_line(tracefs, &name, &["d=0x1 (1)"]);
    let typed = common::wait_trace_line(tracefs, &name, &["d=0x2 (2)"]);
    let expect = |n: u32| {
        format!(
            "s=first a='x'(120) b=0xbeef (48879) d=0x{n} ({n}) k=aa,bb e=0xfffffffffffffffe (-2) \
             f='Z'(90) g=0xfed4 (65236) h=0xfffeee90 (-70000) \
             i=0x123456789abcdef (81985529216486895) t= u=last one z="
        )
    };
    assert_eq!(common::fields_of(&checked, &name).trim_end(), expect(1));
    assert_eq!(common::fields_of(&typed, &name).trim_end(), expect(2));

    // A `char[N]` field: the typed path hands the event to the checked one.
    let chars_name = common::unique("tr_typed_chars");
    let chars_word = common::leak_word();
    let chars = EventFormat::with_fields(
        &chars_name,
        &[("c", FieldType::Chars(5)), ("d", FieldType::U32)],
    )
    .unwrap();
    let chars_reg = register(chars_word, chars).unwrap();
    common::set_enabled(tracefs, &chars_name, true);
    common::wait_kernel_bit(chars_word, true);
    assert_eq!(
        chars_reg.write_typed(&[Value::Chars(b"hi"), Value::U32(3)]),
        Ok(WriteOutcome::Written)
    );
    let line = common::wait_trace_line(tracefs, &chars_name, &[]);
    common::set_enabled(tracefs, &chars_name, false);
    common::set_enabled(tracefs, &name, false);
    assert_eq!(
        common::fields_of(&line, &chars_name).trim_end(),
        "c=hi d=0x3 (3)"
    );
    let stats = reg.write_stats();
    assert_eq!((stats.truncated, stats.dropped, stats.failed), (0, 0, 0));
}

#[test]
fn thirty_two_fields_and_long_dynamic_data() {
    let Some(tracefs) = common::user_events("many_fields") else {
        return;
    };
    // A short name: 16 `__data_loc char[]` fields and 16 `u32` ones take ~500 of the
    // description's 511 bytes.
    let name = common::unique("m");
    let word = common::leak_word();
    let names: Vec<String> = (0..cotrace_kernel::MAX_FIELDS)
        .map(|i| format!("f{i}"))
        .collect();
    let mut format = EventFormat::new(&name).unwrap();
    for (i, n) in names.iter().enumerate() {
        let ty = if i % 2 == 0 {
            FieldType::U32
        } else {
            FieldType::Str
        };
        format = format.field(n, ty).unwrap();
    }
    let reg = register(word, format).unwrap();
    common::set_enabled(tracefs, &name, true);
    common::wait_kernel_bit(word, true);
    // 16 strings of 100 bytes: one ftrace record must fit a ring-buffer page (4 KiB).
    let long = "x".repeat(100);
    let values: Vec<Value<'_>> = (0..cotrace_kernel::MAX_FIELDS)
        .map(|i| {
            if i % 2 == 0 {
                Value::U32(i as u32)
            } else {
                Value::Str(&long)
            }
        })
        .collect();
    assert_eq!(reg.write(&values), Ok(WriteOutcome::Written));
    let line = common::wait_trace_line(tracefs, &name, &[]);
    common::set_enabled(tracefs, &name, false);
    let fields = common::fields_of(&line, &name);
    assert!(
        fields.starts_with(&format!("f0=0x0 (0) f1={long} f2=0x2 (2) f3={long}")),
        "{fields}"
    );
    assert!(
        fields
            .trim_end()
            .ends_with(&format!("f30=0x1e (30) f31={long}")),
        "{fields}"
    );
}

#[test]
fn values_that_do_not_fit_the_format_are_refused_without_a_syscall() {
    let Some(tracefs) = common::user_events("write_errors") else {
        return;
    };
    let name = common::unique("tr_bad");
    let word = common::leak_word();
    let format = EventFormat::with_fields(
        &name,
        &[
            ("a", FieldType::U32),
            ("c", FieldType::Chars(2)),
            ("s", FieldType::Bytes),
        ],
    )
    .unwrap();
    let reg = register(word, format).unwrap();
    common::set_enabled(tracefs, &name, true);
    common::wait_kernel_bit(word, true);
    assert_eq!(
        reg.write(&[Value::U32(1)]),
        Err(WriteError::FieldCount {
            expected: 3,
            found: 1
        })
    );
    assert_eq!(
        reg.write(&[Value::U64(1), Value::Chars(b"a"), Value::Bytes(b"")]),
        Err(WriteError::TypeMismatch {
            index: 0,
            expected: FieldType::U32,
            found: "U64"
        })
    );
    assert_eq!(
        reg.write(&[Value::U32(1), Value::Chars(b"a"), Value::Str("x")]),
        Err(WriteError::TypeMismatch {
            index: 2,
            expected: FieldType::Bytes,
            found: "Str"
        })
    );
    assert_eq!(
        reg.write(&[Value::U32(1), Value::Chars(b"abc"), Value::Bytes(b"")]),
        Err(WriteError::TooLong {
            index: 1,
            len: 3,
            max: 2
        })
    );
    let message = WriteError::TooLong {
        index: 1,
        len: 3,
        max: 2,
    }
    .to_string();
    assert!(
        message.contains("field 1") && message.contains("at most 2"),
        "{message}"
    );
    // None of them reached the kernel.
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(common::trace_lines(tracefs, &name).is_empty());
    // A good write still works afterwards.
    assert_eq!(
        reg.write(&[Value::U32(7), Value::Chars(b"ok"), Value::Bytes(&[9])]),
        Ok(WriteOutcome::Written)
    );
    common::wait_trace_line(tracefs, &name, &["a=0x7 (7)", "c=ok", "s=09"]);
    common::set_enabled(tracefs, &name, false);
}

#[test]
fn ebadf_from_a_disabled_event_is_not_enabled_not_an_error() {
    let Some(_tracefs) = common::user_events("ebadf") else {
        return;
    };
    let name = common::unique("tr_ebadf");
    let word = common::leak_word();
    let reg = register(
        word,
        EventFormat::new(&name)
            .unwrap()
            .field("a", FieldType::U8)
            .unwrap(),
    )
    .unwrap();
    // write_always skips the bit check, so this is the kernel's EBADF.
    assert_eq!(
        reg.write_always(&[Value::U8(1)]),
        Ok(WriteOutcome::NotEnabled)
    );
    assert_eq!(reg.write(&[Value::U8(1)]), Ok(WriteOutcome::NotEnabled));
}

#[test]
fn faulted_out_payload_pages_are_read_back_as_zeros() {
    // ftrace_test.c write_fault: payload in a page dropped with MADV_DONTNEED still writes
    // (the kernel faults it in as zeros).
    let Some(tracefs) = common::user_events("write_fault") else {
        return;
    };
    let name = common::unique("tr_fault");
    let word = common::leak_word();
    let reg = register(
        word,
        EventFormat::new(&name)
            .unwrap()
            .field("v", FieldType::Bytes)
            .unwrap(),
    )
    .unwrap();
    common::set_enabled(tracefs, &name, true);
    common::wait_kernel_bit(word, true);
    const LEN: usize = 4096;
    // SAFETY: a private anonymous mapping of one page, unmapped at the end.
    let page = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            LEN,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(page, libc::MAP_FAILED);
    {
        // SAFETY: the mapping is LEN readable and writable bytes that live until the munmap
        // below, after this block; nothing else aliases it.
        let bytes = unsafe { std::slice::from_raw_parts_mut(page.cast::<u8>(), LEN) };
        bytes[..4].copy_from_slice(&[5, 6, 7, 8]);
        assert_eq!(
            reg.write(&[Value::Bytes(&bytes[..4])]),
            Ok(WriteOutcome::Written)
        );
        // SAFETY: drops the page's contents; the mapping stays valid and reads as zeros.
        assert_eq!(unsafe { libc::madvise(page, LEN, libc::MADV_DONTNEED) }, 0);
        assert_eq!(
            reg.write(&[Value::Bytes(&bytes[..4])]),
            Ok(WriteOutcome::Written)
        );
    }
    // SAFETY: unmaps the mapping created above; no slice of it is alive any more.
    assert_eq!(unsafe { libc::munmap(page, LEN) }, 0);
    common::wait_trace_line(tracefs, &name, &["v=05,06,07,08"]);
    common::wait_trace_line(tracefs, &name, &["v=00,00,00,00"]);
    common::set_enabled(tracefs, &name, false);
}

#[test]
fn one_registration_written_from_many_threads() {
    // Registration is Send + Sync: concurrent writers share it; every write lands.
    let Some(tracefs) = common::user_events("threads") else {
        return;
    };
    let name = common::unique("tr_threads");
    let word = common::leak_word();
    let format = EventFormat::new(&name)
        .unwrap()
        .field("t", FieldType::U32)
        .unwrap();
    let reg = std::sync::Arc::new(register(word, format).unwrap());
    common::set_enabled(tracefs, &name, true);
    common::wait_kernel_bit(word, true);
    let writers: Vec<_> = (0..4u32)
        .map(|t| {
            let reg = std::sync::Arc::clone(&reg);
            let tracefs = tracefs.to_path_buf();
            let name = name.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    assert_eq!(reg.write(&[Value::U32(t)]), Ok(WriteOutcome::Written));
                }
                // Lines are matched by writer task: this thread's 50 must all be there.
                let tag = format!("t=0x{t:x} ({t})");
                assert!(common::wait_until(|| {
                    common::trace_lines(&tracefs, &name)
                        .iter()
                        .filter(|l| l.contains(&tag))
                        .count()
                        == 50
                }));
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    common::set_enabled(tracefs, &name, false);
}

#[test]
fn oversized_dynamic_fields_are_truncated_to_fit_and_recorded() {
    // ftrace drops a record larger than its ring-buffer page (4 KiB) without a word; cotrace
    // cuts the dynamic data to fit (strings end with TRUNCATION_MARK) and says so.
    let Some(tracefs) = common::user_events("oversized") else {
        return;
    };
    let name = common::unique("tr_big");
    let word = common::leak_word();
    let format = EventFormat::with_fields(
        &name,
        &[
            ("a", FieldType::U32),
            ("s", FieldType::Str),
            ("b", FieldType::Bytes),
        ],
    )
    .unwrap();
    let reg = register(word, format).unwrap();
    common::set_enabled(tracefs, &name, true);
    common::wait_kernel_bit(word, true);
    // (Two oversized fields sharing the room are checked byte-exact in the unit tests: the
    // `trace` file cannot print a line of 2 KiB of bytes as text, over its 8 KiB line limit.)
    let (six, seventy) = ("x".repeat(6000), "y".repeat(70_000));
    let outcomes = [
        reg.write(&[Value::U32(1), Value::Str(&six), Value::Bytes(&[1, 2])]),
        // The typed path (`fire!`'s) hands an oversized payload to the same cutting.
        reg.write_typed(&[Value::U32(2), Value::Str(&seventy), Value::Bytes(&[3])]),
    ];
    for (a, c) in [(1, 'x'), (2, 'y')] {
        let line = common::wait_trace_line(tracefs, &name, &[&format!("a=0x{a:x} ({a})")]);
        let s = line
            .split_once(" s=")
            .and_then(|(_, rest)| rest.split_once(" b="))
            .map(|(s, _)| s)
            .unwrap_or_else(|| panic!("no s= and b= in {line}"));
        assert!(
            s.ends_with(TRUNCATION_MARK),
            "a={a}: s does not end with the mark: {line}"
        );
        let kept = s.len() - TRUNCATION_MARK.len();
        assert!(s[..kept].chars().all(|x| x == c), "a={a}: {line}");
        let b = line.split_once(" b=").unwrap().1.trim_end();
        // The payload is exactly MAX_PAYLOAD: fixed part, small field whole, the rest for s.
        let small = if a == 1 { 2 } else { 1 };
        assert_eq!(
            kept,
            4064 - 12 - small - TRUNCATION_MARK.len() - 1,
            "a={a}: s gets the rest"
        );
        assert_eq!(
            b,
            if a == 1 { "01,02" } else { "03" },
            "a={a}: small fields are kept whole"
        );
    }
    common::set_enabled(tracefs, &name, false);
    assert_eq!(
        outcomes,
        [Ok(WriteOutcome::Truncated), Ok(WriteOutcome::Truncated)]
    );
    let stats = reg.write_stats();
    assert_eq!(
        (stats.truncated, stats.dropped, stats.failed),
        (2, 0, 0),
        "{stats:?}"
    );
}

/// The `format` file of an event with a string and a byte field, as format-file parsers
/// (libtraceevent, bpftrace, libbpf-based tools) read it: every field line is the declared
/// type verbatim. `__data_loc` fields print as declared; `__rel_loc` fields print as arrays
/// with a length the kernel never sets (`__rel_loc u8 d[2112409024]` in some boots, `d[]` in
/// others), which bpftrace refuses outright. Also checks the 8-byte common header (`struct
/// trace_entry`) the `__data_loc` offsets count: the first field of the payload is at offset 8.
#[test]
fn the_format_file_shows_dynamic_fields_as_declared() {
    let Some(tracefs) = common::user_events("format_file") else {
        return;
    };
    let name = common::unique("tr_fmt");
    let word = common::leak_word();
    let format = EventFormat::with_fields(
        &name,
        &[
            ("a", FieldType::U32),
            ("s", FieldType::Str),
            ("d", FieldType::Bytes),
        ],
    )
    .unwrap();
    let _reg = register(word, format).unwrap();
    let path = common::event_dir(tracefs, "user_events", &name).join("format");
    let text = std::fs::read_to_string(&path).unwrap();
    let fields: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("field:") && !l.contains(" common_"))
        .collect();
    assert_eq!(
        fields,
        [
            "field:u32 a;\toffset:8;\tsize:4;\tsigned:0;",
            "field:__data_loc char[] s;\toffset:12;\tsize:4;\tsigned:1;",
            "field:__data_loc u8[] d;\toffset:16;\tsize:4;\tsigned:1;",
        ],
        "{}:\n{text}",
        path.display()
    );
    let print_fmt = text.lines().find(|l| l.starts_with("print fmt:")).unwrap();
    assert_eq!(
        print_fmt,
        r#"print fmt: "a=%u s=%s d=%llu", REC->a, __get_str(s), REC->d"#
    );
}
