//! Errors: registration failures (bad definitions) and firing failures (mismatched values).

use core::fmt;

/// Why [`register_provider`](crate::register_provider) refused a definition. Nothing is
/// registered when it fails.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The provider name is not a C identifier, or `provider:event` is too long for LTTng.
    InvalidProviderName(String),
    /// An event name is not a C identifier, or `provider:event` is 256 bytes or more.
    InvalidEventName(String),
    /// A field name is not a C identifier, starts with `_`, or repeats in its event.
    InvalidFieldName {
        /// The event.
        event: String,
        /// The field.
        field: String,
    },
    /// An event has more than [`MAX_FIELDS`](crate::MAX_FIELDS) fields.
    TooManyFields {
        /// The event.
        event: String,
        /// How many it has.
        count: usize,
    },
    /// A `ByteArray` length is 0 or above [`MAX_ARRAY_LEN`](crate::MAX_ARRAY_LEN).
    InvalidArrayLength {
        /// The event.
        event: String,
        /// The field.
        field: String,
    },
    /// An enumeration field has no label, an empty label or one with a NUL, or a range whose
    /// end is below its start.
    InvalidEnum {
        /// The event.
        event: String,
        /// The field.
        field: String,
    },
    /// An event's `provider` differs from the provider being registered.
    ProviderMismatch {
        /// The provider being registered.
        provider: String,
        /// The event whose `provider` differs.
        event: String,
    },
    /// The provider has no events, or the same event name twice.
    InvalidEventList(String),
    /// A provider of this name is already registered by this process.
    AlreadyRegistered(String),
    /// liblttng-ust refused the provider (it logs why when `LTTNG_UST_DEBUG=1`).
    Rejected(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidProviderName(p) => write!(
                f,
                "invalid LTTng provider name {p:?}: expected a C identifier ([A-Za-z_][A-Za-z0-9_]*)"
            ),
            Error::InvalidEventName(e) => write!(
                f,
                "invalid LTTng event name {e:?}: expected a C identifier, and provider:event shorter than 256 bytes"
            ),
            Error::InvalidFieldName { event, field } => write!(
                f,
                "invalid field name {field:?} in event {event:?}: expected a C identifier not starting with '_', unique in the event"
            ),
            Error::TooManyFields { event, count } => write!(
                f,
                "event {event:?} has {count} fields; at most {} are supported",
                crate::MAX_FIELDS
            ),
            Error::InvalidArrayLength { event, field } => write!(
                f,
                "byte array field {field:?} of event {event:?} must have a length from 1 to {}",
                crate::MAX_ARRAY_LEN
            ),
            Error::InvalidEnum { event, field } => write!(
                f,
                "enumeration field {field:?} of event {event:?} needs at least one label, each non-empty, without NUL, with start <= end"
            ),
            Error::ProviderMismatch { provider, event } => write!(
                f,
                "event {event:?} does not belong to provider {provider:?}"
            ),
            Error::InvalidEventList(p) => write!(
                f,
                "provider {p:?} must list at least one event and each event name once"
            ),
            Error::AlreadyRegistered(p) => {
                write!(
                    f,
                    "LTTng provider {p:?} is already registered in this process"
                )
            }
            Error::Rejected(p) => write!(
                f,
                "liblttng-ust rejected provider {p:?} (run with LTTNG_UST_DEBUG=1 for its reason)"
            ),
        }
    }
}

impl std::error::Error for Error {}

/// Why [`EventHandle::fire`](crate::EventHandle::fire) wrote nothing. Callers on a hot path
/// usually ignore it; it never panics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FireError {
    /// Wrong number of values.
    WrongCount {
        /// Fields of the event.
        expected: usize,
        /// Values given.
        got: usize,
    },
    /// The value at this index does not fit its field's type.
    WrongType {
        /// Index of the first mismatched value.
        index: usize,
    },
    /// The provider was unregistered.
    Unregistered,
}

impl fmt::Display for FireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FireError::WrongCount { expected, got } => {
                write!(f, "event has {expected} fields but {got} values were given")
            }
            FireError::WrongType { index } => {
                write!(f, "value {index} does not match its field's type")
            }
            FireError::Unregistered => write!(f, "the event's provider was unregistered"),
        }
    }
}

impl std::error::Error for FireError {}
