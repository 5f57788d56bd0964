//! The Linux user_events adapter of cotrace: tracefs discovery, registration of enable words, writes.
//!
//! Filled in by its own issue.
