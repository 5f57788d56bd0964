//! The layout cotrace relies on, checked against the C compiler's view of an LTTng-UST's headers.
//!
//! `cotrace-ust` fills LTTng's descriptors (probe, event, class, field and type descriptors,
//! call sites, the probe and ring-buffer contexts) with the layout of these bindings, generated
//! from LTTng-UST 2.13's headers, and reads LTTng's event, channel and session objects through
//! them. Against another version's headers the bindings may differ (`bindings/check.sh` shows
//! how); what matters is whether anything cotrace fills or reads moved. This test writes a C
//! program that prints, for exactly those items, what the headers say (`sizeof`, `_Alignof`,
//! `offsetof` and the size of every field used, the byte and bit each one-bit field lands in,
//! the enum values and constants used, and whether each called function and callback still has
//! the declared type), compiles it with `cc` against `$LTTNG_UST_PREFIX/include` (else the
//! installed headers), and compares every line with the same item computed from the bindings.
//!
//! Sizes are compared for the structures cotrace allocates or fills (it passes their size as
//! `struct_size`) and for `lttng_ust_tracepoint_probe` (it walks arrays of them); for the
//! objects LTTng hands to the probe only the offsets and sizes of the fields read matter (LTTng
//! may append fields to those). The provider ABI major is checked the way
//! `check_provider_version` (`lttng-probes.c`) checks it: cotrace's must lie between the
//! headers' `LTTNG_UST_PROVIDER_MAJOR_OLDEST_COMPATIBLE` and `LTTNG_UST_PROVIDER_MAJOR`.
//!
//! Skipped (a `SKIPPED` line past libtest's capture) when no headers are installed.
//! `scripts/test-lttng-version.sh VERSION` runs it against that version's headers.

use core::ffi::{c_char, c_int, c_void};
use core::mem::{MaybeUninit, align_of, offset_of, size_of};
use cotrace_lttng_sys as sys;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

/// How the bindings' value must relate to the headers'.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Rule {
    /// Equal.
    Same,
    /// The bindings' value is at most the headers' (a range's upper end).
    AtMost,
    /// At least the headers' (its lower end).
    AtLeast,
}

struct Item {
    key: String,
    rust: i64,
    /// A C expression of type long long, or a statement block setting `v`.
    c: String,
    rule: Rule,
}

/// The size of the field `f` points at, without a value of `S`.
fn field_size<S, F>(_: fn(*const S) -> *const F) -> usize {
    size_of::<F>()
}

/// Where the one bit set by `set` lands in a zeroed `S`: `byte * 256 + value`, or -1 when more
/// than one byte changed. The C side computes the same with `mask()`.
fn bit_position<S>(set: fn(*mut S)) -> i64 {
    let mut s = MaybeUninit::<S>::zeroed();
    set(s.as_mut_ptr());
    // SAFETY: every byte of `s` was initialised by `zeroed` and is plain data.
    let bytes = unsafe { core::slice::from_raw_parts(s.as_ptr().cast::<u8>(), size_of::<S>()) };
    let set: Vec<(usize, u8)> = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b != 0)
        .map(|(i, b)| (i, *b))
        .collect();
    match set.as_slice() {
        [(i, b)] => (*i as i64) * 256 + i64::from(*b),
        _ => -1,
    }
}

/// Size and alignment of a structure cotrace fills, then the offset and size of each field.
macro_rules! filled {
    ($out:ident, $s:ident: $($f:ident),* $(,)?) => {
        whole!($out, $s);
        fields!($out, $s: $($f),*);
    };
}

macro_rules! whole {
    ($out:ident, $s:ident) => {
        $out.push(Item {
            key: format!("sizeof(struct {})", stringify!($s)),
            rust: size_of::<sys::$s>() as i64,
            c: format!("sizeof(struct {})", stringify!($s)),
            rule: Rule::Same,
        });
        $out.push(Item {
            key: format!("_Alignof(struct {})", stringify!($s)),
            rust: align_of::<sys::$s>() as i64,
            c: format!("_Alignof(struct {})", stringify!($s)),
            rule: Rule::Same,
        });
    };
}

/// Offset and size of fields cotrace reads or writes (C names: bindgen's without the `_` it
/// appends to keywords, `type_` and `priv_`).
macro_rules! fields {
    ($out:ident, $s:ident: $($f:ident),* $(,)?) => {$(
        let c = stringify!($f).trim_end_matches('_');
        $out.push(Item {
            key: format!("offsetof(struct {}, {c})", stringify!($s)),
            rust: offset_of!(sys::$s, $f) as i64,
            c: format!("offsetof(struct {}, {c})", stringify!($s)),
            rule: Rule::Same,
        });
        $out.push(Item {
            key: format!("sizeof(((struct {} *)0)->{c})", stringify!($s)),
            // SAFETY: only the field's address is computed, from a pointer never dereferenced
            // (the closure is not even called).
            rust: field_size(|p: *const sys::$s| unsafe { core::ptr::addr_of!((*p).$f) }) as i64,
            c: format!("sizeof(((struct {} *)0)->{c})", stringify!($s)),
            rule: Rule::Same,
        });
    )*};
}

/// A one-bit field: which byte and bit of the structure it is.
macro_rules! bit {
    ($out:ident, $s:ident . $f:ident, $setter:ident) => {
        $out.push(Item {
            key: format!("bit of struct {}.{}", stringify!($s), stringify!($f)),
            // SAFETY: `p` points to a zeroed `S` (see `bit_position`); bindgen's raw setter
            // writes only the bytes of the field's bit-field unit.
            rust: bit_position::<sys::$s>(|p| unsafe { sys::$s::$setter(p, 1) }),
            c: format!(
                "{{ struct {s} s; memset(&s, 0, sizeof s); s.{f} = 1; v = mask(&s, sizeof s); }}",
                s = stringify!($s),
                f = stringify!($f)
            ),
            rule: Rule::Same,
        });
    };
}

/// Enum values and constants, by their C name.
macro_rules! consts {
    ($out:ident, $($p:path),* $(,)?) => {$(
        let c = stringify!($p).rsplit("::").next().unwrap().trim();
        $out.push(Item {
            key: c.to_string(),
            rust: $p as i64,
            c: c.to_string(),
            rule: Rule::Same,
        });
    )*};
}

/// A function of the table cotrace loads (`LttngUst`), declared in Rust with type `$rust` and in
/// C with type `$c`: the Rust side is checked when this compiles, the C side by
/// `__builtin_types_compatible_p`.
macro_rules! function {
    ($out:ident, $name:ident, $c:literal, $rust:ty) => {
        let _ = |api: &sys::LttngUst| -> $rust { api.$name };
        $out.push(Item {
            key: format!("type of {}", stringify!($name)),
            rust: 1,
            c: format!(
                "__builtin_types_compatible_p(__typeof__(&{}), {})",
                stringify!($name),
                $c
            ),
            rule: Rule::Same,
        });
    };
}

/// The same for a callback LTTng stores in field `$f` of `$s` and the probe calls.
macro_rules! callback {
    ($out:ident, $s:ident . $f:ident, $c:literal, $rust:ty) => {
        let _ = |s: &sys::$s| -> Option<$rust> { s.$f };
        $out.push(Item {
            key: format!("type of struct {}.{}", stringify!($s), stringify!($f)),
            rust: 1,
            c: format!(
                "__builtin_types_compatible_p(__typeof__(((struct {} *)0)->{}), {})",
                stringify!($s),
                stringify!($f),
                $c
            ),
            rule: Rule::Same,
        });
    };
}

/// Everything in `cotrace-ust` that depends on the layout (see the module docs).
fn items() -> Vec<Item> {
    let mut out = Vec::new();
    // Call sites (provider.rs registers them; probe.rs reads `probes`, an array of
    // `lttng_ust_tracepoint_probe`).
    filled!(out, lttng_ust_tracepoint: struct_size, provider_name, event_name, state, probes,
        tracepoint_provider_ref, signature);
    filled!(out, lttng_ust_tracepoint_probe: func, data);
    // Descriptors (descriptor.rs fills every field).
    filled!(out, lttng_ust_probe_desc: struct_size, provider_name, event_desc, nr_events, major,
        minor);
    filled!(out, lttng_ust_event_desc: struct_size, event_name, probe_desc, tp_class, loglevel,
        model_emf_uri);
    filled!(out, lttng_ust_tracepoint_class: struct_size, fields, nr_fields, probe_callback,
        signature, probe_desc);
    filled!(out, lttng_ust_event_field: struct_size, name, type_);
    bit!(out, lttng_ust_event_field.nowrite, set_nowrite_raw);
    bit!(out, lttng_ust_event_field.nofilter, set_nofilter_raw);
    filled!(out, lttng_ust_type_common: type_);
    filled!(out, lttng_ust_type_integer: parent, struct_size, size, alignment, base);
    bit!(out, lttng_ust_type_integer.signedness, set_signedness_raw);
    bit!(
        out,
        lttng_ust_type_integer.reverse_byte_order,
        set_reverse_byte_order_raw
    );
    filled!(out, lttng_ust_type_float: parent, struct_size, exp_dig, mant_dig, alignment);
    bit!(
        out,
        lttng_ust_type_float.reverse_byte_order,
        set_reverse_byte_order_raw
    );
    filled!(out, lttng_ust_type_string: parent, struct_size, encoding);
    filled!(out, lttng_ust_type_enum: parent, struct_size, desc, container_type);
    filled!(out, lttng_ust_type_array: parent, struct_size, elem_type, length, alignment,
        encoding);
    filled!(out, lttng_ust_type_sequence: parent, struct_size, length_name, elem_type, alignment,
        encoding);
    filled!(out, lttng_ust_enum_desc: struct_size, name, entries, nr_entries, probe_desc);
    filled!(out, lttng_ust_enum_entry: struct_size, start, end, string, options);
    filled!(out, lttng_ust_enum_value: value);
    bit!(out, lttng_ust_enum_value.signedness, set_signedness_raw);
    // Contexts the probe builds and passes to LTTng (probe.rs).
    filled!(out, lttng_ust_probe_ctx: struct_size, ip);
    filled!(out, lttng_ust_notification_ctx: struct_size, eval_capture);
    filled!(out, lttng_ust_ring_buffer_ctx: struct_size, client_priv, data_size, largest_align,
        probe_ctx, priv_);
    // LTTng's objects, read by the probe: only the fields read.
    fields!(out, lttng_ust_event_common: type_, child, enabled, eval_filter, run_filter);
    fields!(out, lttng_ust_event_recorder: chan);
    fields!(out, lttng_ust_event_notifier: eval_capture, notification_send);
    fields!(out, lttng_ust_channel_buffer: parent, ops);
    fields!(out, lttng_ust_channel_common: enabled, session);
    fields!(out, lttng_ust_channel_buffer_ops: event_reserve, event_commit, event_write,
        event_strcpy);
    fields!(out, lttng_ust_session: active);
    // Enum values written into descriptors or compared with LTTng's.
    use sys::{
        lttng_ust_enum_entry_option, lttng_ust_event_filter_result, lttng_ust_event_type,
        lttng_ust_string_encoding, lttng_ust_type,
    };
    consts!(
        out,
        lttng_ust_type::lttng_ust_type_integer,
        lttng_ust_type::lttng_ust_type_string,
        lttng_ust_type::lttng_ust_type_float,
        lttng_ust_type::lttng_ust_type_enum,
        lttng_ust_type::lttng_ust_type_array,
        lttng_ust_type::lttng_ust_type_sequence,
        lttng_ust_string_encoding::lttng_ust_string_encoding_none,
        lttng_ust_string_encoding::lttng_ust_string_encoding_UTF8,
        lttng_ust_event_type::LTTNG_UST_EVENT_TYPE_RECORDER,
        lttng_ust_event_type::LTTNG_UST_EVENT_TYPE_NOTIFIER,
        lttng_ust_event_filter_result::LTTNG_UST_EVENT_FILTER_ACCEPT,
        lttng_ust_enum_entry_option::LTTNG_UST_ENUM_ENTRY_OPTION_IS_AUTO,
        sys::LTTNG_UST_ABI_SYM_NAME_LEN
    );
    use sys::loglevel;
    consts!(
        out,
        loglevel::LTTNG_UST_TRACEPOINT_LOGLEVEL_EMERG,
        loglevel::LTTNG_UST_TRACEPOINT_LOGLEVEL_ALERT,
        loglevel::LTTNG_UST_TRACEPOINT_LOGLEVEL_CRIT,
        loglevel::LTTNG_UST_TRACEPOINT_LOGLEVEL_ERR,
        loglevel::LTTNG_UST_TRACEPOINT_LOGLEVEL_WARNING,
        loglevel::LTTNG_UST_TRACEPOINT_LOGLEVEL_NOTICE,
        loglevel::LTTNG_UST_TRACEPOINT_LOGLEVEL_INFO,
        loglevel::LTTNG_UST_TRACEPOINT_LOGLEVEL_DEBUG_SYSTEM,
        loglevel::LTTNG_UST_TRACEPOINT_LOGLEVEL_DEBUG_PROGRAM,
        loglevel::LTTNG_UST_TRACEPOINT_LOGLEVEL_DEBUG_PROCESS,
        loglevel::LTTNG_UST_TRACEPOINT_LOGLEVEL_DEBUG_MODULE,
        loglevel::LTTNG_UST_TRACEPOINT_LOGLEVEL_DEBUG_UNIT,
        loglevel::LTTNG_UST_TRACEPOINT_LOGLEVEL_DEBUG_FUNCTION,
        loglevel::LTTNG_UST_TRACEPOINT_LOGLEVEL_DEBUG_LINE,
        loglevel::LTTNG_UST_TRACEPOINT_LOGLEVEL_DEBUG
    );
    // The provider ABI cotrace declares must be one the library accepts.
    let major = i64::from(sys::LTTNG_UST_PROVIDER_MAJOR);
    out.push(Item {
        key: "LTTNG_UST_PROVIDER_MAJOR (newest accepted)".into(),
        rust: major,
        c: "LTTNG_UST_PROVIDER_MAJOR".into(),
        rule: Rule::AtMost,
    });
    out.push(Item {
        key: "LTTNG_UST_PROVIDER_MAJOR_OLDEST_COMPATIBLE (oldest accepted)".into(),
        rust: major,
        c: "{\n#ifdef LTTNG_UST_PROVIDER_MAJOR_OLDEST_COMPATIBLE\n v = \
            LTTNG_UST_PROVIDER_MAJOR_OLDEST_COMPATIBLE;\n#else\n v = LTTNG_UST_PROVIDER_MAJOR;\n\
            #endif\n}"
            .into(),
        rule: Rule::AtLeast,
    });
    // How the probe lays fields out in the ring buffer (`PACKED` in ust-side/src/probe.rs).
    out.push(Item {
        key: "LTTNG_UST_ARCH_HAS_EFFICIENT_UNALIGNED_ACCESS".into(),
        rust: i64::from(cfg!(any(
            target_arch = "x86",
            target_arch = "x86_64",
            target_arch = "powerpc",
            target_arch = "powerpc64"
        ))),
        c: "{\n#ifdef LTTNG_UST_ARCH_HAS_EFFICIENT_UNALIGNED_ACCESS\n v = 1;\n#else\n v = 0;\n\
            #endif\n}"
            .into(),
        rule: Rule::Same,
    });
    // Functions cotrace calls (the dlsym'd table) and the callbacks it calls.
    type Tp = *mut sys::lttng_ust_tracepoint;
    type Desc = *const sys::lttng_ust_probe_desc;
    type Registered = *mut sys::lttng_ust_registered_probe;
    function!(
        out,
        lttng_ust_tracepoint_module_register,
        "int (*)(struct lttng_ust_tracepoint * const *, int)",
        unsafe extern "C" fn(*const Tp, c_int) -> c_int
    );
    function!(
        out,
        lttng_ust_tracepoint_module_unregister,
        "int (*)(struct lttng_ust_tracepoint * const *)",
        unsafe extern "C" fn(*const Tp) -> c_int
    );
    function!(
        out,
        lttng_ust_probe_register,
        "struct lttng_ust_registered_probe *(*)(const struct lttng_ust_probe_desc *)",
        unsafe extern "C" fn(Desc) -> Registered
    );
    function!(
        out,
        lttng_ust_probe_unregister,
        "void (*)(struct lttng_ust_registered_probe *)",
        unsafe extern "C" fn(Registered)
    );
    function!(
        out,
        lttng_ust_before_fork,
        "void (*)(sigset_t *)",
        unsafe extern "C" fn(*mut sys::sigset_t)
    );
    function!(
        out,
        lttng_ust_after_fork_parent,
        "void (*)(sigset_t *)",
        unsafe extern "C" fn(*mut sys::sigset_t)
    );
    function!(
        out,
        lttng_ust_after_fork_child,
        "void (*)(sigset_t *)",
        unsafe extern "C" fn(*mut sys::sigset_t)
    );
    type Ctx = *mut sys::lttng_ust_ring_buffer_ctx;
    callback!(
        out,
        lttng_ust_channel_buffer_ops.event_reserve,
        "int (*)(struct lttng_ust_ring_buffer_ctx *)",
        unsafe extern "C" fn(Ctx) -> c_int
    );
    callback!(
        out,
        lttng_ust_channel_buffer_ops.event_commit,
        "void (*)(struct lttng_ust_ring_buffer_ctx *)",
        unsafe extern "C" fn(Ctx)
    );
    callback!(
        out,
        lttng_ust_channel_buffer_ops.event_write,
        "void (*)(struct lttng_ust_ring_buffer_ctx *, const void *, size_t, size_t)",
        unsafe extern "C" fn(Ctx, *const c_void, usize, usize)
    );
    callback!(
        out,
        lttng_ust_channel_buffer_ops.event_strcpy,
        "void (*)(struct lttng_ust_ring_buffer_ctx *, const char *, size_t)",
        unsafe extern "C" fn(Ctx, *const c_char, usize)
    );
    type ProbeCtx = *mut sys::lttng_ust_probe_ctx;
    callback!(
        out,
        lttng_ust_event_common.run_filter,
        "int (*)(const struct lttng_ust_event_common *, const char *, \
         struct lttng_ust_probe_ctx *, void *)",
        unsafe extern "C" fn(
            *const sys::lttng_ust_event_common,
            *const c_char,
            ProbeCtx,
            *mut c_void,
        ) -> c_int
    );
    callback!(
        out,
        lttng_ust_event_notifier.notification_send,
        "void (*)(const struct lttng_ust_event_notifier *, const char *, \
         struct lttng_ust_probe_ctx *, struct lttng_ust_notification_ctx *)",
        unsafe extern "C" fn(
            *const sys::lttng_ust_event_notifier,
            *const c_char,
            ProbeCtx,
            *mut sys::lttng_ust_notification_ctx,
        )
    );
    out
}

/// The C program printing `index value` for each item, then the headers' version.
fn c_program(items: &[Item]) -> String {
    let mut c = String::from(
        "#include <signal.h>\n#include <stddef.h>\n#include <stdio.h>\n#include <string.h>\n\
         #include <lttng/tracepoint-types.h>\n#include <lttng/tracepoint.h>\n\
         #include <lttng/ust-events.h>\n#include <lttng/ust-ringbuffer-context.h>\n\
         #include <lttng/ust-fork.h>\n#include <lttng/ust-version.h>\n\n\
         static long long mask(const void *p, size_t n)\n{\n\
         \tconst unsigned char *b = p;\n\tlong long found = -1;\n\
         \tfor (size_t i = 0; i < n; i++) {\n\t\tif (!b[i]) continue;\n\
         \t\tif (found != -1) return -1;\n\t\tfound = (long long)i * 256 + b[i];\n\t}\n\
         \treturn found;\n}\n\nint main(void)\n{\n\tlong long v;\n\t(void)v;\n",
    );
    for (i, item) in items.iter().enumerate() {
        if item.c.starts_with('{') {
            c.push_str(&format!("\t{}\n", item.c));
        } else {
            c.push_str(&format!("\tv = (long long)({});\n", item.c));
        }
        c.push_str(&format!("\tprintf(\"{i} %lld\\n\", v);\n"));
    }
    c.push_str(&format!("\tprintf(\"items {}\\n\");\n", fingerprint(items)));
    c.push_str("\tprintf(\"version %s\\n\", LTTNG_UST_VERSION);\n\treturn 0;\n}\n");
    c
}

/// What the C program was generated from: the number of items and an FNV-1a hash of their C
/// expressions, printed by the program as `items N-HASH`, so that a program compiled
/// beforehand (`COTRACE_TEST_LAYOUT_EXE`) from another list of items is refused.
fn fingerprint(items: &[Item]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for item in items {
        for b in item.c.bytes().chain(Some(b'\n')) {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{}-{hash:016x}", items.len())
}

/// The headers' directories, most specific first, or `None` when none are installed.
fn include_dirs() -> Option<Vec<PathBuf>> {
    let multiarch = Command::new("gcc")
        .arg("-print-multiarch")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        // Without gcc (the arm64 guest has no compiler): this test binary's own target.
        .unwrap_or_else(|| format!("{}-linux-gnu", std::env::consts::ARCH));
    let system = [
        PathBuf::from(format!("/usr/include/{multiarch}")),
        PathBuf::from("/usr/include"),
    ];
    if let Some(prefix) = std::env::var_os("LTTNG_UST_PREFIX").filter(|p| !p.is_empty()) {
        let dir = PathBuf::from(prefix).join("include");
        assert!(
            dir.join("lttng/ust-events.h").exists(),
            "LTTNG_UST_PREFIX is set but {} has no lttng/ust-events.h",
            dir.display()
        );
        let mut dirs = vec![dir];
        dirs.extend(system);
        return Some(dirs);
    }
    system
        .iter()
        .any(|d| d.join("lttng/ust-events.h").exists())
        .then(|| system.to_vec())
}

/// Compares the C program's output with the items; returns the headers' version and every
/// difference.
fn compare(items: &[Item], output: &str) -> (String, Vec<String>) {
    let mut version = String::from("unknown");
    let mut c_values = BTreeMap::new();
    for line in output.lines() {
        let (k, v) = line.split_once(' ').expect("`index value` lines");
        if k == "version" {
            version = v.to_string();
        } else if k == "items" {
            // The fingerprint: checked by the caller.
        } else {
            c_values.insert(k.parse::<usize>().unwrap(), v.parse::<i64>().unwrap());
        }
    }
    let mut differences = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(&c) = c_values.get(&i) else {
            differences.push(format!("{}: no value from the C program", item.key));
            continue;
        };
        let ok = match item.rule {
            Rule::Same => item.rust == c,
            Rule::AtMost => item.rust <= c,
            Rule::AtLeast => item.rust >= c,
        };
        if !ok {
            let want = match item.rule {
                Rule::Same => "==",
                Rule::AtMost => "<=",
                Rule::AtLeast => ">=",
            };
            differences.push(format!(
                "{}: bindings {} but headers {c} (must be bindings {want} headers)",
                item.key, item.rust
            ));
        }
    }
    (version, differences)
}

/// The C program's output and what it was compiled against: the program named by
/// `COTRACE_TEST_LAYOUT_EXE` (compiled beforehand for this test binary's target against that
/// target's headers: the arm64 guest has no compiler, scripts/test-arm64.sh cross-compiles
/// what `write_the_c_program` writes), else the program compiled here with `$CC` (default `cc`)
/// against the installed headers; `None` when neither is there.
fn c_output(items: &[Item]) -> Option<(String, String)> {
    if let Some(exe) = std::env::var_os("COTRACE_TEST_LAYOUT_EXE").filter(|p| !p.is_empty()) {
        let exe = PathBuf::from(exe);
        let out = Command::new(&exe)
            .output()
            .unwrap_or_else(|e| panic!("COTRACE_TEST_LAYOUT_EXE={}: {e}", exe.display()));
        assert!(out.status.success(), "{}: {}", exe.display(), out.status);
        let text = String::from_utf8(out.stdout).unwrap();
        let want = format!("items {}", fingerprint(items));
        assert!(
            text.lines().any(|l| l == want),
            "COTRACE_TEST_LAYOUT_EXE={} was generated from other items than this test's ({want})",
            exe.display()
        );
        return Some((text, format!("prebuilt {}", exe.display())));
    }
    let includes = include_dirs()?;
    // A directory the test can write: CARGO_TARGET_TMPDIR is the build machine's path, which
    // may be read-only where a cross-built test runs (the arm64 guest's root is the host's).
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let base = if std::fs::create_dir_all(&tmp).is_ok() && tempfile_ok(&tmp) {
        tmp
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("layout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let source = dir.join("layout.c");
    let exe = dir.join("layout");
    std::fs::write(&source, c_program(items)).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let mut compile = Command::new(&cc);
    compile
        .args(["-std=gnu11", "-Wall", "-Werror", "-o"])
        .arg(&exe)
        .arg(&source);
    for dir in &includes {
        compile.arg(format!("-I{}", dir.display()));
    }
    let out = compile.output().unwrap_or_else(|e| {
        panic!("running {cc}: {e} (for a cross-built test, set COTRACE_TEST_LAYOUT_EXE)")
    });
    assert!(
        out.status.success(),
        "{cc} failed on {}:\n{}",
        source.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(&exe).output().unwrap();
    assert!(out.status.success());
    let _ = std::fs::remove_dir_all(&dir);
    Some((
        String::from_utf8(out.stdout).unwrap(),
        includes[0].display().to_string(),
    ))
}

/// Whether a file can be created in `dir`.
fn tempfile_ok(dir: &std::path::Path) -> bool {
    let probe = dir.join(format!(".layout-probe-{}", std::process::id()));
    let ok = std::fs::write(&probe, b"").is_ok();
    let _ = std::fs::remove_file(&probe);
    ok
}

/// Writes the C program to `COTRACE_TEST_LAYOUT_C` (scripts/test-arm64.sh, on the build
/// machine, then cross-compiles it for the guest's `COTRACE_TEST_LAYOUT_EXE`). Its items' C
/// expressions do not depend on the target, and the program prints their fingerprint.
#[test]
#[ignore = "a tool for cross-built runs: writes the C program to COTRACE_TEST_LAYOUT_C"]
fn write_the_c_program() {
    let path = std::env::var_os("COTRACE_TEST_LAYOUT_C").expect("COTRACE_TEST_LAYOUT_C=PATH");
    std::fs::write(&path, c_program(&items())).unwrap();
}

#[test]
fn layout_cotrace_relies_on_matches_the_headers() {
    let items = items();
    let Some((output, headers)) = c_output(&items) else {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED layout_cotrace_relies_on_matches_the_headers: LTTng-UST headers not installed"
        );
        return;
    };
    let (version, differences) = compare(&items, &output);
    // Past libtest's capture: scripts/test-lttng-version.sh puts this line in its table row.
    let _ = writeln!(
        std::io::stderr(),
        "LAYOUT {} items against LTTng-UST {version} headers ({}): {}",
        items.len(),
        headers,
        if differences.is_empty() {
            "all match".to_string()
        } else {
            format!("{} differ", differences.len())
        }
    );
    assert!(
        differences.is_empty(),
        "the bindings' layout differs from LTTng-UST {version}'s headers in what cotrace uses:\n{}",
        differences.join("\n")
    );
}

#[test]
fn a_difference_is_reported() {
    // The comparison itself can fail: feed it the bindings' own values with one changed.
    let items = items();
    let mut output: String = items
        .iter()
        .enumerate()
        .map(|(i, item)| format!("{i} {}\n", item.rust))
        .collect();
    let (_, none) = compare(&items, &output);
    assert_eq!(none, Vec::<String>::new());
    let at = items
        .iter()
        .position(|i| i.key == "offsetof(struct lttng_ust_ring_buffer_ctx, largest_align)")
        .unwrap();
    output = output.replace(&format!("\n{at} 24\n"), &format!("\n{at} 28\n"));
    let (_, one) = compare(&items, &output);
    assert_eq!(
        one,
        [
            "offsetof(struct lttng_ust_ring_buffer_ctx, largest_align): bindings 24 but headers 28 \
          (must be bindings == headers)"
        ]
    );
}
