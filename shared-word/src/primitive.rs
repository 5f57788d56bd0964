//! Every atomic this crate uses, in one place, so `cfg(loom)` can swap in loom's model-checked
//! versions.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, Ordering};

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicU32, Ordering};
