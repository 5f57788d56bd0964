//! Raw bindings to LTTng-UST 2.13, generated with bindgen, for cotrace.
//!
//! Filled in by its own issue.
