//! cotrace: instrument once, enable from the Linux kernel's user_events and from LTTng-UST.
//!
//! Every event has one [`EnableWord`]: the kernel sets bit 31 when ftrace or perf enables it,
//! user-space tracers count themselves in the low bits, and a call site costs one relaxed load
//! and a branch until someone wants it. The facade (event macros and registration) arrives with
//! its own issue; for now this crate re-exports the word.

pub use cotrace_word::{EnableWord, WordError, WordSnapshot};
