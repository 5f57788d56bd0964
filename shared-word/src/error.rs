use core::fmt;

/// Why a reference count operation on an [`EnableWord`](crate::EnableWord) was refused.
///
/// When one of these is returned the word was left exactly as it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WordError {
    /// [`acquire_user`](crate::EnableWord::acquire_user) at
    /// [`USER_MAX`](crate::layout::USER_MAX): one more would carry into the shared bits.
    UserCountSaturated,
    /// [`release_user`](crate::EnableWord::release_user) with no user tracer counted: a release
    /// without its acquire.
    UserCountZero,
}

impl fmt::Display for WordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UserCountSaturated => write!(
                f,
                "the enable word's user-tracer count is at its maximum ({})",
                crate::layout::USER_MAX
            ),
            Self::UserCountZero => {
                f.write_str("release of a user tracer on an enable word whose count is zero")
            }
        }
    }
}

impl core::error::Error for WordError {}
