//! The LTTng-UST adapter of cotrace: a provider written in Rust whose enablement drives the enable word's reference count.
//!
//! Filled in by its own issue.
