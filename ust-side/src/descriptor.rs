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

fn integer(bytes: usize, signed: bool, base: u32) -> *const sys::lttng_ust_type_common {
    leak(sys::lttng_ust_type_integer {
        parent: common(lttng_ust_type_integer),
        struct_size: core::mem::size_of::<sys::lttng_ust_type_integer>() as u32,
        size: (bytes * 8) as u32,
        alignment: (rb_align(bytes) * 8) as u16,
        _bitfield_1: sys::lttng_ust_type_integer::new_bitfield_1(u32::from(signed), 0),
        base,
    })
    .cast_const()
    .cast()
}

fn float(bytes: usize) -> *const sys::lttng_ust_type_common {
    let mant_dig = if bytes == 4 {
        f32::MANTISSA_DIGITS
    } else {
        f64::MANTISSA_DIGITS
    };
    leak(sys::lttng_ust_type_float {
        parent: common(lttng_ust_type_float),
        struct_size: core::mem::size_of::<sys::lttng_ust_type_float>() as u32,
        exp_dig: (bytes * 8) as u32 - mant_dig,
        mant_dig,
        alignment: (rb_align(bytes) * 8) as u16,
        _bitfield_1: sys::lttng_ust_type_float::new_bitfield_1(0),
        ..Default::default()
    })
    .cast_const()
    .cast()
}

fn field(
    name: &'static CStr,
    ty: *const sys::lttng_ust_type_common,
    nofilter: bool,
) -> *const sys::lttng_ust_event_field {
    leak(sys::lttng_ust_event_field {
        struct_size: core::mem::size_of::<sys::lttng_ust_event_field>() as u32,
        name: name.as_ptr(),
        type_: ty,
        _bitfield_1: sys::lttng_ust_event_field::new_bitfield_1(0, u32::from(nofilter)),
        ..Default::default()
    })
    .cast_const()
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

fn fields_of(
    provider: &CStr,
    spec: &EventSpec,
    probe: *const sys::lttng_ust_probe_desc,
) -> Vec<*const sys::lttng_ust_event_field> {
    let mut out = Vec::with_capacity(spec.fields.len() + 1);
    for f in spec.fields {
        let name = leak_cstring(f.name.to_owned());
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
            FieldType::Str => leak(sys::lttng_ust_type_string {
                parent: common(lttng_ust_type_string),
                struct_size: core::mem::size_of::<sys::lttng_ust_type_string>() as u32,
                encoding: lttng_ust_string_encoding_UTF8,
            })
            .cast_const()
            .cast(),
            FieldType::Bytes => {
                // Like C's lttng_ust_field_sequence: a hidden length field, then the sequence
                // that refers to the previous field.
                let len_name = leak_cstring(format!("_{}_length", f.name));
                out.push(field(len_name, integer(4, false, 10), true));
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
        out.push(field(name, ty, false));
    }
    out
}

/// Builds the probe descriptor of `provider` with `events` (already validated).
pub(crate) fn build(
    provider: &'static CStr,
    events: &[&'static EventSpec],
) -> *const sys::lttng_ust_probe_desc {
    let probe = leak(sys::lttng_ust_probe_desc {
        struct_size: core::mem::size_of::<sys::lttng_ust_probe_desc>() as u32,
        provider_name: provider.as_ptr(),
        event_desc: core::ptr::null(),
        nr_events: events.len() as u32,
        major: sys::LTTNG_UST_PROVIDER_MAJOR,
        minor: sys::LTTNG_UST_PROVIDER_MINOR,
    });
    let callback: crate::probe::Callback = crate::probe::probe_callback;
    let mut descs: Vec<*const sys::lttng_ust_event_desc> = Vec::with_capacity(events.len());
    for spec in events {
        let fields = Box::leak(fields_of(provider, spec, probe).into_boxed_slice());
        let class = leak(sys::lttng_ust_tracepoint_class {
            struct_size: core::mem::size_of::<sys::lttng_ust_tracepoint_class>() as u32,
            fields: fields.as_ptr(),
            nr_fields: fields.len(),
            // SAFETY: LTTng stores the callback as `void (*)(void)` and only hands it back to
            // call sites with the same signature string, which are ours and call it with
            // `Callback`'s real signature.
            probe_callback: Some(unsafe {
                core::mem::transmute::<crate::probe::Callback, unsafe extern "C" fn()>(callback)
            }),
            signature: crate::probe::SIGNATURE.as_ptr(),
            probe_desc: probe,
        });
        let level: &'static c_int = Box::leak(Box::new(spec.loglevel as c_int));
        let level_ref: *mut *const c_int = leak(level as *const c_int);
        descs.push(leak(sys::lttng_ust_event_desc {
            struct_size: core::mem::size_of::<sys::lttng_ust_event_desc>() as u32,
            event_name: leak_cstring(spec.event.to_owned()).as_ptr(),
            probe_desc: probe,
            tp_class: class,
            loglevel: level_ref,
            model_emf_uri: core::ptr::null_mut(),
        }));
    }
    let descs = Box::leak(descs.into_boxed_slice());
    // SAFETY: `probe` was just allocated by `leak` and nothing else refers to it mutably.
    unsafe { (*probe).event_desc = descs.as_ptr() };
    probe
}
