//! An application that forbids `unsafe` code still compiles `provider!` and `fire!` (the
//! two-instruction check's `asm!` is the macro's, not the application's), and `?` inside a
//! `fire!` argument still returns from the caller, as in a call.
#![forbid(unsafe_code)]

cotrace::provider! {
    /// Events of this test.
    pub mod safe_app {
        /// One event.
        fn ev(value: u64, note: &str);
    }
}

fn fire_with_question_mark(input: &str) -> Result<u64, std::num::ParseIntError> {
    cotrace::fire!(safe_app::ev(input.parse::<u64>()?, "parsed"));
    Ok(1)
}

#[test]
fn fires_under_forbid_unsafe_code_and_question_mark_returns_from_the_caller() {
    // Disabled: the argument (and its `?`) is never evaluated.
    assert_eq!(fire_with_question_mark("not a number"), Ok(1));
    let count = safe_app::ev.word().acquire_user().unwrap();
    // Enabled: the argument is evaluated, and its `?` returns the error from the caller.
    assert!(fire_with_question_mark("not a number").is_err());
    assert_eq!(fire_with_question_mark("7"), Ok(1));
    drop(count);
}
