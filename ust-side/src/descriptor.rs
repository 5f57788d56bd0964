//! Building LTTng-UST 2.13 probe, event and field descriptors at run time (what stages 1-2 of
//! `ust-tracepoint-event.h` build at compile time). Everything is leaked: liblttng-ust keeps
//! pointers to it.

use core::ffi::{CStr, c_int};
use std::ffi::CString;

use cotrace_lttng_sys as sys;
use sys::lttng_ust_string_encoding::{
    lttng_ust_string_encoding_UTF8, lttng_ust_string_encoding_none,
};
use sys::lttng_ust_type::{
    lttng_ust_type_array, lttng_ust_type_enum, lttng_ust_type_float, lttng_ust_type_integer,
    lttng_ust_type_sequence, lttng_ust_type_string,
};

use crate::probe::rb_align;
use crate::spec::{EventSpec, FieldType};

fn leak<T>(v: T) -> *mut T {
    Box::into_raw(Box::new(v))
}

fn common(ty: sys::lttng_ust_type::Type) -> sys::lttng_ust_type_common {
    sys::lttng_ust_type_common { type_: ty }
}

fn integer_value(bytes: usize, signed: bool, base: u32) -> sys::lttng_ust_type_integer {
    sys::lttng_ust_type_integer {
        parent: common(lttng_ust_type_integer),
        struct_size: core::mem::size_of::<sys::lttng_ust_type_integer>() as u32,
        size: (bytes * 8) as u32,
        alignment: (rb_align(bytes) * 8) as u16,
        _bitfield_1: sys::lttng_ust_type_integer::new_bitfield_1(u32::from(signed), 0),
        base,
    }
}

fn float_value(bytes: usize) -> sys::lttng_ust_type_float {
    let mant_dig = if bytes == 4 {
        f32::MANTISSA_DIGITS
    } else {
        f64::MANTISSA_DIGITS
    };
    sys::lttng_ust_type_float {
        parent: common(lttng_ust_type_float),
        struct_size: core::mem::size_of::<sys::lttng_ust_type_float>() as u32,
        exp_dig: (bytes * 8) as u32 - mant_dig,
        mant_dig,
        alignment: (rb_align(bytes) * 8) as u16,
        _bitfield_1: sys::lttng_ust_type_float::new_bitfield_1(0),
        ..Default::default()
    }
}

fn field(
    name: &'static CStr,
    ty: *const sys::lttng_ust_type_common,
    nofilter: bool,
) -> sys::lttng_ust_event_field {
    sys::lttng_ust_event_field {
        struct_size: core::mem::size_of::<sys::lttng_ust_event_field>() as u32,
        name: name.as_ptr(),
        type_: ty,
        _bitfield_1: sys::lttng_ust_event_field::new_bitfield_1(0, u32::from(nofilter)),
        ..Default::default()
    }
}

fn leak_cstring(s: String) -> &'static CStr {
    Box::leak(CString::new(s).unwrap_or_default().into_boxed_c_str())
}

fn enum_value(v: i64) -> sys::lttng_ust_enum_value {
    sys::lttng_ust_enum_value {
        value: v as u64,
        _bitfield_1: sys::lttng_ust_enum_value::new_bitfield_1(1),
        ..Default::default()
    }
}

/// An enumeration over a signed 64-bit container, named `provider_event_field` (LTTng keys
/// enumerations by name within a session).
fn enumeration(
    name: String,
    labels: &[crate::EnumLabel],
    probe: *const sys::lttng_ust_probe_desc,
) -> *const sys::lttng_ust_type_common {
    let entries: Vec<*const sys::lttng_ust_enum_entry> = labels
        .iter()
        .map(|l| {
            leak(sys::lttng_ust_enum_entry {
                struct_size: core::mem::size_of::<sys::lttng_ust_enum_entry>() as u32,
                start: enum_value(l.start),
                end: enum_value(l.end),
                string: leak_cstring(l.label.to_owned()).as_ptr(),
                options: 0,
            })
            .cast_const()
        })
        .collect();
    let entries = Box::leak(entries.into_boxed_slice());
    let desc = leak(sys::lttng_ust_enum_desc {
        struct_size: core::mem::size_of::<sys::lttng_ust_enum_desc>() as u32,
        name: leak_cstring(name).as_ptr(),
        entries: entries.as_ptr(),
        nr_entries: entries.len() as u32,
        probe_desc: probe,
    });
    leak(sys::lttng_ust_type_enum {
        parent: common(lttng_ust_type_enum),
        struct_size: core::mem::size_of::<sys::lttng_ust_type_enum>() as u32,
        desc,
        container_type: integer(8, true, 10),
    })
    .cast_const()
    .cast()
}

/// The names a provider's descriptors point at, in one leaked buffer (one allocation for the
/// whole provider, not one per name: 10,000 events with 3 fields each made 40,000 before).
struct Names {
    buf: Vec<u8>,
    /// Start of each name in `buf`, in the order they were added.
    starts: Vec<usize>,
}

impl Names {
    fn with_capacity(names: usize, bytes: usize) -> Self {
        Self {
            buf: Vec::with_capacity(bytes),
            starts: Vec::with_capacity(names),
        }
    }

    /// Adds a name (validated identifiers: no NUL inside) made of `parts`.
    fn add(&mut self, parts: &[&str]) {
        self.starts.push(self.buf.len());
        for part in parts {
            self.buf.extend_from_slice(part.as_bytes());
        }
        self.buf.push(0);
    }

    /// Leaks the buffer: the names in the order they were added.
    fn leak(self) -> Vec<&'static CStr> {
        let buf: &'static [u8] = Box::leak(self.buf.into_boxed_slice());
        let mut ends = self.starts.iter().skip(1).copied().chain([buf.len()]);
        self.starts
            .iter()
            .map(|&start| {
                let end = ends.next().unwrap_or(buf.len());
                CStr::from_bytes_with_nul(&buf[start..end]).unwrap_or_default()
            })
            .collect()
    }
}

/// The type descriptors that do not depend on the field (integers, floats, strings): built
/// once per process and shared by every field of every provider, as C shares one per use
/// site's static data (LTTng only reads them).
struct SharedTypes {
    /// By [`integer_slot`].
    integers: [&'static sys::lttng_ust_type_integer; 16],
    f32: &'static sys::lttng_ust_type_float,
    f64: &'static sys::lttng_ust_type_float,
    string: &'static sys::lttng_ust_type_string,
}

/// The index of an integer type among [`SharedTypes::integers`]: 1, 2, 4 or 8 bytes, signed
/// or not, base 10 or 16.
fn integer_slot(bytes: usize, signed: bool, base: u32) -> usize {
    let width = match bytes {
        1 => 0,
        2 => 1,
        4 => 2,
        _ => 3,
    };
    width * 4 + usize::from(signed) * 2 + usize::from(base == 16)
}

fn shared_types() -> &'static SharedTypes {
    static TYPES: std::sync::OnceLock<SharedTypes> = std::sync::OnceLock::new();
    TYPES.get_or_init(|| SharedTypes {
        integers: core::array::from_fn(|slot| {
            let (bytes, signed, base) = (1 << (slot / 4), slot % 4 >= 2, [10, 16][slot % 2]);
            &*Box::leak(Box::new(integer_value(bytes, signed, base)))
        }),
        f32: Box::leak(Box::new(float_value(4))),
        f64: Box::leak(Box::new(float_value(8))),
        string: Box::leak(Box::new(sys::lttng_ust_type_string {
            parent: common(lttng_ust_type_string),
            struct_size: core::mem::size_of::<sys::lttng_ust_type_string>() as u32,
            encoding: lttng_ust_string_encoding_UTF8,
        })),
    })
}

fn integer(bytes: usize, signed: bool, base: u32) -> *const sys::lttng_ust_type_common {
    core::ptr::from_ref(shared_types().integers[integer_slot(bytes, signed, base)]).cast()
}

fn float(bytes: usize) -> *const sys::lttng_ust_type_common {
    let types = shared_types();
    core::ptr::from_ref(if bytes == 4 { types.f32 } else { types.f64 }).cast()
}

/// Fields an event's descriptor lists: one per field, plus the hidden length field before
/// each [`FieldType::Bytes`].
fn field_count(spec: &EventSpec) -> usize {
    spec.fields.len()
        + spec
            .fields
            .iter()
            .filter(|f| matches!(f.ty, FieldType::Bytes))
            .count()
}

/// Appends `spec`'s field descriptors to `out`, named from `names` (in the order
/// [`build`] added them: for each field, its length field's name first if it has one).
fn fields_of(
    provider: &CStr,
    spec: &EventSpec,
    probe: *const sys::lttng_ust_probe_desc,
    names: &mut impl Iterator<Item = &'static CStr>,
    out: &mut Vec<sys::lttng_ust_event_field>,
) {
    let mut next_name = || names.next().unwrap_or_default();
    for f in spec.fields {
        let ty = match f.ty {
            FieldType::I8 => integer(1, true, 10),
            FieldType::I16 => integer(2, true, 10),
            FieldType::I32 => integer(4, true, 10),
            FieldType::I64 => integer(8, true, 10),
            FieldType::U8 | FieldType::Bool => integer(1, false, 10),
            FieldType::U16 => integer(2, false, 10),
            FieldType::U32 => integer(4, false, 10),
            FieldType::U64 => integer(8, false, 10),
            FieldType::F32 => float(4),
            FieldType::F64 => float(8),
            FieldType::Str => core::ptr::from_ref(shared_types().string).cast(),
            FieldType::Bytes => {
                // Like C's lttng_ust_field_sequence: a hidden length field, then the sequence
                // that refers to the previous field.
                out.push(field(next_name(), integer(4, false, 10), true));
                leak(sys::lttng_ust_type_sequence {
                    parent: common(lttng_ust_type_sequence),
                    struct_size: core::mem::size_of::<sys::lttng_ust_type_sequence>() as u32,
                    length_name: core::ptr::null(),
                    elem_type: integer(1, false, 16),
                    alignment: 0,
                    encoding: lttng_ust_string_encoding_none,
                })
                .cast_const()
                .cast()
            }
            FieldType::ByteArray(n) => leak(sys::lttng_ust_type_array {
                parent: common(lttng_ust_type_array),
                struct_size: core::mem::size_of::<sys::lttng_ust_type_array>() as u32,
                elem_type: integer(1, false, 16),
                length: n as u32,
                alignment: 0,
                encoding: lttng_ust_string_encoding_none,
            })
            .cast_const()
            .cast(),
            FieldType::Enum(labels) => enumeration(
                format!("{}_{}_{}", provider.to_string_lossy(), spec.event, f.name),
                labels,
                probe,
            ),
        };
        out.push(field(next_name(), ty, false));
    }
}

/// Builds the probe descriptor of `provider` with `events` (already validated), whose names
/// are `event_names`. The descriptors of all events share a handful of allocations (names,
/// fields, field lists, classes, event descriptors: one each for the whole provider), as C's
/// are one provider's static data.
pub(crate) fn build(
    provider: &'static CStr,
    events: &[&'static EventSpec],
    event_names: &[&'static CStr],
) -> *const sys::lttng_ust_probe_desc {
    let probe = leak(sys::lttng_ust_probe_desc {
        struct_size: core::mem::size_of::<sys::lttng_ust_probe_desc>() as u32,
        provider_name: provider.as_ptr(),
        event_desc: core::ptr::null(),
        nr_events: events.len() as u32,
        major: sys::LTTNG_UST_PROVIDER_MAJOR,
        minor: sys::LTTNG_UST_PROVIDER_MINOR,
    });

    let nr_fields: usize = events.iter().map(|e| field_count(e)).sum();
    let bytes: usize = events
        .iter()
        .flat_map(|e| e.fields)
        .map(|f| f.name.len() + 1 + matches!(f.ty, FieldType::Bytes) as usize * (f.name.len() + 9))
        .sum();
    let mut names = Names::with_capacity(nr_fields, bytes);
    for f in events.iter().flat_map(|e| e.fields) {
        if matches!(f.ty, FieldType::Bytes) {
            names.add(&["_", f.name, "_length"]);
        }
        names.add(&[f.name]);
    }
    let mut names = names.leak().into_iter();

    let mut fields = Vec::with_capacity(nr_fields);
    for spec in events {
        fields_of(provider, spec, probe, &mut names, &mut fields);
    }
    let fields: &'static [sys::lttng_ust_event_field] = Box::leak(fields.into_boxed_slice());
    let field_ptrs: &'static [*const sys::lttng_ust_event_field] =
        Box::leak(fields.iter().map(core::ptr::from_ref).collect());

    let callback: crate::probe::Callback = crate::probe::probe_callback;
    // SAFETY: LTTng stores the callback as `void (*)(void)` and only hands it back to call
    // sites with the same signature string, which are ours and call it with `Callback`'s real
    // signature.
    let probe_callback = Some(unsafe {
        core::mem::transmute::<crate::probe::Callback, unsafe extern "C" fn()>(callback)
    });
    let mut first = 0;
    let classes: &'static [sys::lttng_ust_tracepoint_class] = Box::leak(
        events
            .iter()
            .map(|spec| {
                let own = &field_ptrs[first..first + field_count(spec)];
                first += own.len();
                sys::lttng_ust_tracepoint_class {
                    struct_size: core::mem::size_of::<sys::lttng_ust_tracepoint_class>() as u32,
                    fields: own.as_ptr(),
                    nr_fields: own.len(),
                    probe_callback,
                    signature: crate::probe::SIGNATURE.as_ptr(),
                    probe_desc: probe,
                }
            })
            .collect(),
    );
    let levels: &'static [c_int] = Box::leak(events.iter().map(|e| e.loglevel as c_int).collect());
    let level_refs: &'static mut [*const c_int] =
        Box::leak(levels.iter().map(core::ptr::from_ref).collect());
    let descs: &'static [sys::lttng_ust_event_desc] = Box::leak(
        classes
            .iter()
            .zip(level_refs.iter_mut())
            .zip(event_names)
            .map(|((class, level_ref), name)| sys::lttng_ust_event_desc {
                struct_size: core::mem::size_of::<sys::lttng_ust_event_desc>() as u32,
                event_name: name.as_ptr(),
                probe_desc: probe,
                tp_class: class,
                loglevel: level_ref,
                model_emf_uri: core::ptr::null_mut(),
            })
            .collect(),
    );
    let desc_ptrs: &'static [*const sys::lttng_ust_event_desc] =
        Box::leak(descs.iter().map(core::ptr::from_ref).collect());
    // SAFETY: `probe` was just allocated by `leak` and nothing else refers to it mutably.
    unsafe { (*probe).event_desc = desc_ptrs.as_ptr() };
    probe
}
