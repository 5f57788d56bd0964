//! What the macros need from this crate, reached through `$crate::__macro_support` so a user
//! crate's own names (even one called `core`) cannot break them.
//!
//! Nothing here is stable API.

pub use core::{compile_error, concat, stringify};
pub use linkme::{self, distributed_slice};

use crate::event::Event;

/// Every event declared with [`provider!`](crate::provider) anywhere in the program, collected
/// by the linker.
#[distributed_slice]
pub static EVENTS: [&'static Event];
