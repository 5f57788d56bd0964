//! cotrace's one fork-safety mechanism, shared by the facade and both adapters.
//!
//! A process may `fork` at any moment, from any thread. The child has one thread, a copy of
//! the forking one: a lock another thread held at the fork is held in the child by a thread
//! that does not exist there, and whatever that thread was doing is half done. cotrace must
//! never make a child wait for such a thread, and a child must be traced (or told it is not)
//! like its parent. This crate is how, for every crate of cotrace:
//!
//! - [`generation`]: the fork generation, bumped in every child before anything else runs
//!   there. It tells a child from its parent where a process id cannot: a child in a new pid
//!   namespace can have its parent's id (both pid 1), and ids are reused.
//! - [`Lock`]: a lock tagged with its holder's generation (and process id). A thread waits
//!   for a holder of its own process; a child *takes over* a lock whose holder is in its
//!   parent ([`LockGuard::orphaned`] says so). Nothing is held across `fork`, so no fork waits
//!   for a lock either.
//! - [`Shared`]: a value replaced whole (copy-on-write, [`arc_swap`]) under a [`Lock`]: readers
//!   never lock, and a child that takes the lock over finds the last value published, never a
//!   half-made one.
//! - [`register`]: the process's single `pthread_atfork` registration and the [`Hooks`] each
//!   crate adds, run in one [`Order`] (the order of cotrace's locks: facade, kernel, LTTng).
//! - [`ForkPolicy`]: whether children are traced, or only `exec` (cheap forks).
//!
//! # Supported Rust Versions
//!
//! Rust 1.87 or newer (edition 2024; the workspace's `rust-version`).

mod hooks;
mod lock;
mod policy;

pub use hooks::{Hooks, Order, RegisterError, generation, register};
pub use lock::{Lock, LockGuard, Shared, SharedGuard, process_tag};
pub use policy::{FORK_ENV, ForkPolicy, fork_policy, set_fork_policy};
