//! Random sequences of operations by several owners of counts on one word (two shares, such as
//! LTTng's and an in-process tracer's, and a stack of guards), fork resets of one share, and
//! kernel set/clear of bit 31 (an atomic OR/AND through the registered address), checked
//! against a model after every step: each owner gives back only what it holds.
#![cfg(not(loom))]

use core::sync::atomic::{AtomicU32, Ordering};
use cotrace_word::layout::{KERNEL_MASK, RESERVED_MASK, USER_MASK, USER_MAX};
use cotrace_word::{EnableWord, UserShare, WordError};
use proptest::prelude::*;

#[derive(Clone, Copy, Debug)]
enum Op {
    /// Share 0 or 1 acquires.
    Acquire(usize),
    /// Share 0 or 1 releases one.
    Release(usize),
    /// Share 0 or 1 gives back everything (what the fork child does to LTTng's share).
    ReleaseAll(usize),
    /// A new guard.
    Guard,
    /// The newest guard is dropped.
    DropGuard,
    KernelSet,
    KernelClear,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..2usize).prop_map(Op::Acquire),
        4 => (0..2usize).prop_map(Op::Release),
        1 => (0..2usize).prop_map(Op::ReleaseAll),
        2 => Just(Op::Guard),
        2 => Just(Op::DropGuard),
        1 => Just(Op::KernelSet),
        1 => Just(Op::KernelClear),
    ]
}

fn kernel(word: &EnableWord) -> &AtomicU32 {
    // SAFETY: the address is the word's own, properly aligned AtomicU32, alive as long as `word`,
    // and it is only accessed atomically.
    unsafe { AtomicU32::from_ptr(word.kernel_address()) }
}

/// A word whose count starts at `n` held by nobody here, seeded through the raw address (16
/// million acquires per case would be too slow), so the saturation end is reached.
fn word_with_users(n: u32) -> EnableWord {
    let w = EnableWord::new();
    kernel(&w).fetch_or(n, Ordering::SeqCst);
    assert_eq!(w.snapshot().users(), n);
    w
}

/// 512 cases; under Miri (scripts/miri.sh) 2 shorter ones, without failure files (no file
/// system there).
fn config() -> ProptestConfig {
    if cfg!(miri) {
        ProptestConfig {
            cases: 2,
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    } else {
        ProptestConfig::with_cases(512)
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn each_owner_gives_back_only_its_own(
        near_max in any::<bool>(),
        reserved in 0u32..0x80,
        ops in proptest::collection::vec(op(), 1..if cfg!(miri) { 40 } else { 200 }),
    ) {
        let base = if near_max { USER_MAX - 3 } else { 0 };
        let w = word_with_users(base);
        kernel(&w).fetch_or(reserved << 24, Ordering::SeqCst);
        let shares = [UserShare::new(&w), UserShare::new(&w)];
        let mut guards = Vec::new();
        let mut held = [0u32; 2];
        let mut kernel_on = false;

        for op in ops {
            let before = w.snapshot().raw();
            let users = base + held[0] + held[1] + guards.len() as u32;
            match op {
                Op::Acquire(i) => {
                    let r = shares[i].acquire();
                    if users == USER_MAX {
                        prop_assert_eq!(r, Err(WordError::UserCountSaturated));
                        prop_assert_eq!(w.snapshot().raw(), before);
                    } else {
                        held[i] += 1;
                        prop_assert_eq!(r, Ok(held[i]));
                    }
                }
                Op::Release(i) => {
                    let r = shares[i].release();
                    if held[i] == 0 {
                        // Whatever the others hold, nothing is taken from them.
                        prop_assert_eq!(r, Err(WordError::NotHeld));
                        prop_assert_eq!(w.snapshot().raw(), before);
                    } else {
                        held[i] -= 1;
                        prop_assert_eq!(r, Ok(held[i]));
                    }
                }
                Op::ReleaseAll(i) => {
                    prop_assert_eq!(shares[i].release_all(), held[i]);
                    held[i] = 0;
                }
                Op::Guard => match w.acquire_user() {
                    Ok(g) => {
                        prop_assert!(users < USER_MAX);
                        guards.push(g);
                    }
                    Err(e) => {
                        prop_assert_eq!(users, USER_MAX);
                        prop_assert_eq!(e, WordError::UserCountSaturated);
                        prop_assert_eq!(w.snapshot().raw(), before);
                    }
                },
                Op::DropGuard => drop(guards.pop()),
                Op::KernelSet => {
                    kernel(&w).fetch_or(KERNEL_MASK, Ordering::SeqCst);
                    kernel_on = true;
                }
                Op::KernelClear => {
                    kernel(&w).fetch_and(!KERNEL_MASK, Ordering::SeqCst);
                    kernel_on = false;
                }
            }
            let users = base + held[0] + held[1] + guards.len() as u32;
            let s = w.snapshot();
            prop_assert_eq!(shares[0].held(), held[0]);
            prop_assert_eq!(shares[1].held(), held[1]);
            prop_assert_eq!(s.kernel_enabled(), kernel_on);
            prop_assert_eq!(s.users(), users);
            prop_assert_eq!(s.reserved(), reserved, "reserved bits changed");
            prop_assert_eq!(s.raw() & USER_MASK, users);
            prop_assert_eq!(s.raw() & RESERVED_MASK, reserved << 24);
            prop_assert_eq!(w.is_enabled(), kernel_on || users != 0 || reserved != 0);
        }
        drop(guards);
        drop(shares);
        prop_assert_eq!(w.snapshot().users(), base, "owners gone: only the seeded count is left");
    }
}
