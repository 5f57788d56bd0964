//! Random sequences of user acquire/release, fork resets and kernel set/clear of bit 31 (an
//! atomic OR/AND through the registered address), checked against a model after every step.
#![cfg(not(loom))]

use core::sync::atomic::{AtomicU32, Ordering};
use cotrace_word::layout::{KERNEL_MASK, RESERVED_MASK, USER_MASK, USER_MAX};
use cotrace_word::{EnableWord, WordError};
use proptest::prelude::*;

#[derive(Clone, Copy, Debug)]
enum Op {
    Acquire,
    Release,
    KernelSet,
    KernelClear,
    ResetAfterFork,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Acquire),
        4 => Just(Op::Release),
        1 => Just(Op::KernelSet),
        1 => Just(Op::KernelClear),
        1 => Just(Op::ResetAfterFork),
    ]
}

fn kernel(word: &EnableWord) -> &AtomicU32 {
    // SAFETY: the address is the word's own, properly aligned AtomicU32, alive as long as `word`,
    // and it is only accessed atomically.
    unsafe { AtomicU32::from_ptr(word.kernel_address()) }
}

/// A word whose count starts at `n`, seeded through the raw address (16 million acquires per
/// case would be too slow), so both the saturation end and the zero end are reached.
fn word_with_users(n: u32) -> EnableWord {
    let w = EnableWord::new();
    kernel(&w).fetch_or(n, Ordering::SeqCst);
    assert_eq!(w.snapshot().users(), n);
    w
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn invariants_hold_after_every_step(
        near_max in any::<bool>(),
        reserved in 0u32..0x80,
        ops in proptest::collection::vec(op(), 1..200),
    ) {
        let start = if near_max { USER_MAX - 3 } else { 0 };
        let w = word_with_users(start);
        kernel(&w).fetch_or(reserved << 24, Ordering::SeqCst);
        let (mut kernel_on, mut users) = (false, start);

        for op in ops {
            let before = w.snapshot().raw();
            match op {
                Op::Acquire => {
                    let r = w.acquire_user();
                    if users == USER_MAX {
                        prop_assert_eq!(r, Err(WordError::UserCountSaturated));
                        prop_assert_eq!(w.snapshot().raw(), before);
                    } else {
                        users += 1;
                        prop_assert_eq!(r, Ok(users));
                    }
                }
                Op::Release => {
                    let r = w.release_user();
                    if users == 0 {
                        prop_assert_eq!(r, Err(WordError::UserCountZero));
                        prop_assert_eq!(w.snapshot().raw(), before);
                    } else {
                        users -= 1;
                        prop_assert_eq!(r, Ok(users));
                    }
                }
                Op::KernelSet => {
                    kernel(&w).fetch_or(KERNEL_MASK, Ordering::SeqCst);
                    kernel_on = true;
                }
                Op::KernelClear => {
                    kernel(&w).fetch_and(!KERNEL_MASK, Ordering::SeqCst);
                    kernel_on = false;
                }
                Op::ResetAfterFork => {
                    let old = w.reset_users_after_fork();
                    prop_assert_eq!(old.users(), users);
                    users = 0;
                }
            }
            let s = w.snapshot();
            prop_assert_eq!(s.kernel_enabled(), kernel_on);
            prop_assert_eq!(s.users(), users);
            prop_assert_eq!(s.reserved(), reserved, "reserved bits changed");
            prop_assert_eq!(s.raw() & USER_MASK, users);
            prop_assert_eq!(s.raw() & RESERVED_MASK, reserved << 24);
            prop_assert_eq!(w.is_enabled(), kernel_on || users != 0 || reserved != 0);
        }
    }
}
