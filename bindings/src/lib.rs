//! Raw bindings to LTTng-UST 2.13, generated with bindgen, for cotrace.
//!
//! Two parts:
//!
//! - [`generated`](crate#generated): what `bindgen` produces from the installed headers
//!   (`lttng/tracepoint-types.h`, `lttng/tracepoint.h`, `lttng/ust-events.h`,
//!   `lttng/ust-ringbuffer-context.h`, `lttng/ust-fork.h`), allowlisted to the structures a
//!   provider hands to liblttng-ust and the ones its probe callback reads, with bindgen's
//!   compile-time layout checks kept. The functions come out as the table [`LttngUst`], filled by
//!   `dlsym` ([`libloading`]) because an application must start on a machine without the
//!   library. Regenerate with `bindings/regen.sh`; `bindings/check.sh` regenerates into a
//!   temporary file and diffs (CI runs it where the headers are installed). Building this crate
//!   needs neither libclang nor the headers.
//! - [`hidden`]: symbols liblttng-ust exports but no header declares (the probe
//!   register/unregister entry points of liblttng-ust-tracepoint and its RCU read-side
//!   functions), declared by hand with the upstream source each comes from.
//!
//! # Supported versions
//!
//! LTTng-UST 2.13 (provider ABI major 3, minor 0; `liblttng-ust.so.1`). Every structure that
//! carries a `struct_size` must be filled with the size of the 2.13 layout.
//!
//! The same bindings serve 2.14, 2.15 and 2.16-rc1: what bindgen generates from their headers
//! differs only in enum values appended and in the provider ABI major (4 in 2.16, which still
//! accepts 3), and `tests/layout.rs` compares, against a given version's headers, every size,
//! offset, bit, value and function type that `cotrace-ust` relies on (README, "Newer LTTng
//! versions").
//!
//! # Safety
//!
//! Everything here is raw FFI: pointers are unchecked and the functions are `unsafe`. The safe
//! layer is `cotrace-ust`.

#![allow(
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    missing_docs,
    clippy::all,
    clippy::undocumented_unsafe_blocks,
    unsafe_op_in_unsafe_fn
)]

mod generated {
    include!("generated.rs");
}
pub mod hidden;

pub use generated::*;

/// The loglevels of `lttng/tracepoint.h` (an anonymous enum there, hence bindgen's name).
pub use generated::_bindgen_ty_13 as loglevel;

/// The file name (soname) of the library [`LttngUst`] is loaded from.
pub const LIBLTTNG_UST_SONAME: &core::ffi::CStr = c"liblttng-ust.so.1";

/// The file name (soname) of the library that exports the [`hidden`] symbols and that
/// liblttng-ust calls them in.
pub const LIBLTTNG_UST_TRACEPOINT_SONAME: &core::ffi::CStr = c"liblttng-ust-tracepoint.so.1";
