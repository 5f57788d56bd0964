use core::fmt;

/// Why a reference count operation on an [`EnableWord`](crate::EnableWord) was refused.
///
/// When one of these is returned the word was left exactly as it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WordError {
    /// [`acquire_user`](crate::EnableWord::acquire_user) or
    /// [`UserShare::acquire`](crate::UserShare::acquire) at
    /// [`USER_MAX`](crate::layout::USER_MAX): one more would carry into the shared bits.
    UserCountSaturated,
    /// [`UserShare::release`](crate::UserShare::release) on a share that holds no count: a
    /// release without its acquire (other tracers' counts are never taken).
    NotHeld,
}

impl fmt::Display for WordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UserCountSaturated => write!(
                f,
                "the enable word's user-tracer count is at its maximum ({})",
                crate::layout::USER_MAX
            ),
            Self::NotHeld => f.write_str(
                "release of a user-tracer count that this tracer does not hold on the enable word",
            ),
        }
    }
}

impl core::error::Error for WordError {}
