//! The address of the line that fires an event, for LTTng's `ip` context.
//!
//! A C tracepoint's probe records `__builtin_return_address(0)`, an address inside the caller
//! at the `lttng_ust_tracepoint()` line, in `lttng_ust_probe_ctx::ip`; the `ip` context
//! (`lttng add-context -u -t ip`) records it, and `babeltrace2 --debug-info` turns it into the
//! binary, the function and `file:line` (with the `vpid` context and the statedump's
//! `lttng_ust_statedump:bin_info` events).
//!
//! Rust has no stable `return_address`, and the probe runs several calls away from the user's
//! code. So the address is taken where the event fires, by [`call_site_ip!`](crate::call_site_ip):
//! one instruction that loads its own address into a register (`lea reg, [rip + label]` on
//! x86_64, `adr reg, .` on aarch64), expanded on the enabled path only, after the enable
//! check, so the disabled check costs what it did. The address is passed down to the probe
//! ([`EventHandle::fire_enabled_at`](crate::EventHandle::fire_enabled_at)).
//!
//! Where the instruction lands decides what debug-info prints:
//!
//! - expanded by a macro of another crate (cotrace's `fire!`), the instruction's line is the
//!   macro's invocation in the user's code: rustc attributes the debug info of an external
//!   crate's macro expansion to its call site by default (`collapse_debuginfo`, stable since
//!   1.79, `external` by default), and these macros say `#[collapse_debuginfo(yes)]` so that
//!   it holds inside their own crate too;
//! - expanded in an `#[inline(always)]` function ([`EventHandle::fire`](crate::EventHandle::fire),
//!   cotrace's `Event::fire`), the instruction is in the caller's function but carries the
//!   inlined function's own line, inside a `DW_TAG_inlined_subroutine` whose call site is the
//!   caller's line: `addr2line -f -i`, gdb and perf give that call site.
//!
//! babeltrace2's debug-info (2.0 in Debian 12, `bin-info.c`) looks for functions only among
//! the top-level DIEs of each compile unit, where C puts them; rustc nests them in
//! `DW_TAG_namespace`s. So for Rust code its `func` stays empty and it cannot follow inlining;
//! its `src` then comes from the line table alone, and only for an address that starts a row
//! exactly. The `fire!` instruction does (it begins the enabled path's block), so `src` is
//! the user's `file.rs:LINE`. Inside an inlined function the row would be that function's
//! (cotrace's file), so `call_site_ip!(inlined)` puts a `nop` before the instruction: the
//! address is one instruction into the row and babeltrace2 prints no `src` rather than a
//! wrong one.
//!
//! Other architectures, and Miri, record 0 (no debug-info), as before.

/// The address of the instruction this expands to, as a `usize`; 0 on architectures other
/// than x86_64 and aarch64 (and under Miri). See [the module docs](crate::call_site).
///
/// `call_site_ip!()` is for macros that expand in the user's code: the address starts the
/// line-table row of the invocation's line. `call_site_ip!(inlined)` is for an
/// `#[inline(always)]` function: the address is one `nop` into its row, whose line is the
/// function's own, so that a resolver that reads only the row starting exactly there
/// (babeltrace2 2.0, for Rust code) names no line rather than the function's, while
/// resolvers that follow inlining (`addr2line -i`, gdb, perf) give the caller's line.
///
/// Expand it on the path that fires, never before the enable check: the instructions are not
/// free, and the compiler may not move them (the asm is not `pure`).
///
/// # Examples
///
/// ```
/// let ip = cotrace_ust::call_site_ip!();
/// if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
///     assert_ne!(ip, 0);
/// }
/// ```
#[macro_export]
#[collapse_debuginfo(yes)]
macro_rules! call_site_ip {
    () => {
        $crate::__call_site_ip!("")
    };
    (inlined) => {
        $crate::__call_site_ip!("nop")
    };
}

/// [`call_site_ip!`] with `$pad` (an instruction or nothing) placed before the one whose
/// address is taken. Not API.
#[doc(hidden)]
#[macro_export]
#[collapse_debuginfo(yes)]
macro_rules! __call_site_ip {
    ($pad:literal) => {{
        #[cfg(all(target_arch = "x86_64", not(miri)))]
        let ip: usize = {
            let ip: usize;
            // SAFETY: a `nop` at most and a `lea` of a label of this template: writes only the
            // output register; no memory access, no stack, no flags.
            unsafe {
                $crate::__macro_support::asm!(
                    $pad,
                    "2: lea {ip}, [rip + 2b]",
                    ip = out(reg) ip,
                    options(nomem, nostack, preserves_flags),
                );
            }
            ip
        };
        #[cfg(all(target_arch = "aarch64", not(miri)))]
        let ip: usize = {
            let ip: usize;
            // SAFETY: a `nop` at most and an `adr` of its own address: writes only the output
            // register; no memory access, no stack, no flags.
            unsafe {
                $crate::__macro_support::asm!(
                    $pad,
                    "adr {ip}, .",
                    ip = out(reg) ip,
                    options(nomem, nostack, preserves_flags),
                );
            }
            ip
        };
        #[cfg(not(all(any(target_arch = "x86_64", target_arch = "aarch64"), not(miri))))]
        let ip: usize = 0;
        ip
    }};
}
