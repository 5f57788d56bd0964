//! The LTTng-UST adapter of cotrace: a provider written in Rust whose enablement drives the
//! enable word's reference count.
//!
//! Events are described by static [`EventSpec`]s (provider, event, [`Loglevel`], typed
//! [`FieldSpec`]s, and the event's [`EnableWord`](cotrace_word::EnableWord)), registered with
//! [`register_provider`], which returns a [`Provider`] and one [`EventHandle`] per event, and
//! fired with [`EventHandle::fire`] and a slice of [`Value`]s. They are enabled with the real
//! `lttng` CLI (`lttng enable-event -u provider:event`), and read back with `babeltrace2`.
//!
//! - [`register_provider`] builds LTTng's descriptors at run time ([`provider`] module docs);
//! - [`EventHandle::fire`] does what LTTng's generated C probe does ([`probe`] module docs);
//! - LTTng's enablement is mirrored into each word's user count, +1 per attached session or
//!   trigger, exactly (or by polling as a fallback): see [`refcount`];
//! - the `ip` context records the address of the line that fired the event, so
//!   `babeltrace2 --debug-info` names its function and `file:line` ([`call_site`]);
//! - liblttng-ust is loaded with `dlopen` at run time: without it, the application runs and
//!   [`status`] says why events stay off ([`loader`]);
//! - a forked child is traced without `LD_PRELOAD` ([`fork`]), or not at all if the process
//!   only forks to `exec` ([`set_fork_policy`]).
//!
//! # Environment
//!
//! - `COTRACE_UST_LIBRARY`: library to load instead of `liblttng-ust.so.1` (ignored in setuid,
//!   setgid and setcap processes).
//! - `COTRACE_UST_REFCOUNT=poll`: use the polling fallback even where the exact mode works.
//! - `COTRACE_UST_FORK=exec-only`: the process forks only to `exec`; skip LTTng's fork hooks
//!   ([`ForkPolicy::ExecOnly`]).
//! - LTTng-UST's own variables apply (`LTTNG_HOME`, `LTTNG_UST_DEBUG`, ...).
//!
//! # Crate Feature Flags
//!
//! None. liblttng-ust is always loaded at run time; nothing is needed at build time.
//!
//! # Supported versions
//!
//! LTTng-UST 2.13 (provider ABI 3.0) on Linux; the exact refcount mode on x86_64 and aarch64.
//! Rust 1.87 or later (the workspace's `rust-version`).

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod call_site;
mod descriptor;
mod error;
pub mod fork;
mod got;
pub mod loader;
pub mod probe;
pub mod provider;
pub mod refcount;
mod spec;
mod status;

pub use error::{Error, FireError};
pub use fork::{ForkHandling, ForkPolicy, fork_policy, set_fork_policy};
pub use provider::{
    EventHandle, MAX_ARRAY_LEN, MAX_FIELDS, MAX_NAME_LEN, Provider, register_provider,
    register_provider_part,
};
pub use spec::{EnumLabel, EventSpec, FieldSpec, FieldType, Loglevel, Value};
pub use status::{Availability, RefcountMode, Status, status};

/// What [`call_site_ip!`] needs, reached through `$crate` so a user crate's own names cannot
/// break it. Not API.
#[doc(hidden)]
pub mod __macro_support {
    pub use core::arch::asm;
}
