//! `register_many`: a batch of registrations (what `cotrace::init()` uses) gives each event
//! the outcome `register_with` would, in order, across batches of [`BATCH_MAX`]; and what a
//! batch registered outlives the thread that registered it. Needs user_events:
//! scripts/test-kernel.sh runs it in the VM.

mod common;

use cotrace_kernel::{
    BATCH_MAX, Error, EventFormat, FieldType, RegisterOptions, Value, WriteOutcome, register_many,
};
use cotrace_word::EnableWord;

fn u32_format(name: &str) -> EventFormat {
    EventFormat::with_fields(name, &[("n", FieldType::U32)]).unwrap()
}

/// More than two batches, with a format conflict and a word in use among them: each event gets
/// its own outcome, in order; the others are registered, follow ftrace and are written.
#[test]
fn a_batch_gives_each_event_its_own_outcome_in_order() {
    let Some(tracefs) = common::user_events("batch_outcomes") else {
        return;
    };
    let n = 2 * BATCH_MAX + 22;
    let (conflict_at, in_use_at) = (BATCH_MAX + 5, 2 * BATCH_MAX + 3);
    // The name a later event of the batch reuses with other fields.
    let (taken, _taken_word, _taken_reg) =
        common::register_fresh("batch_taken", &[("s", FieldType::Str)]);
    let (_, in_use_word, _in_use_reg) =
        common::register_fresh("batch_inuse", &[("n", FieldType::U32)]);

    let names: Vec<String> = (0..n).map(|_| common::unique("batch")).collect();
    let words: Vec<&'static EnableWord> = (0..n)
        .map(|i| {
            if i == in_use_at {
                in_use_word
            } else {
                common::leak_word()
            }
        })
        .collect();
    let events = (0..n).map(|i| {
        let name = if i == conflict_at { &taken } else { &names[i] };
        (words[i], u32_format(name), RegisterOptions::new())
    });
    let outcomes = register_many(events);

    assert_eq!(outcomes.len(), n);
    let mut indexes = std::collections::HashSet::new();
    for (i, outcome) in outcomes.iter().enumerate() {
        match (i, outcome) {
            (i, Err(Error::FormatConflict { name })) if i == conflict_at => {
                assert_eq!(name, &taken)
            }
            (i, Err(Error::WordInUse)) if i == in_use_at => {}
            (i, Ok(reg)) if i != conflict_at && i != in_use_at => {
                assert_eq!(reg.name(), names[i]);
                assert!(std::ptr::eq(reg.word(), words[i]));
                assert!(reg.outlives_registering_thread(), "#{i}");
                assert!(indexes.insert(reg.write_index()), "#{i}: index reused");
            }
            (i, other) => panic!("#{i}: {other:?}"),
        }
    }
    // The first, one in the middle batch and the last follow ftrace and are written.
    for i in [0, BATCH_MAX, n - 1] {
        let reg = outcomes[i].as_ref().unwrap();
        common::set_enabled(tracefs, &names[i], true);
        common::wait_kernel_bit(words[i], true);
        assert_eq!(
            reg.write(&[Value::U32(i as u32)]),
            Ok(WriteOutcome::Written)
        );
        let line = common::wait_trace_line(tracefs, &names[i], &[]);
        assert!(line.contains(&format!("({i})")), "#{i}: {line}");
        common::set_enabled(tracefs, &names[i], false);
        common::wait_kernel_bit(words[i], false);
    }
}

/// A batch registered by a thread that then exits (after another thread of the process
/// started the registrar): each of its words still follows ftrace and is written.
#[test]
fn a_batch_registered_by_a_thread_that_exited_still_follows_ftrace() {
    let Some(tracefs) = common::user_events("batch_exited") else {
        return;
    };
    let (_, _, _first) = common::register_fresh("batch_first", &[("n", FieldType::U32)]);
    let names: Vec<String> = (0..3).map(|_| common::unique("batch_exited")).collect();
    let words: Vec<&'static EnableWord> = (0..3).map(|_| common::leak_word()).collect();
    let regs = {
        let (names, words) = (names.clone(), words.clone());
        std::thread::spawn(move || {
            register_many(
                names
                    .iter()
                    .zip(words)
                    .map(|(name, word)| (word, u32_format(name), RegisterOptions::new())),
            )
        })
        .join()
        .unwrap()
    };
    for (i, reg) in regs.iter().enumerate() {
        let reg = reg.as_ref().unwrap();
        assert!(reg.outlives_registering_thread(), "#{i}");
        common::set_enabled(tracefs, &names[i], true);
        common::wait_kernel_bit(words[i], true);
        assert_eq!(
            reg.write(&[Value::U32(40 + i as u32)]),
            Ok(WriteOutcome::Written)
        );
        let line = common::wait_trace_line(tracefs, &names[i], &[]);
        assert!(line.contains(&format!("({})", 40 + i)), "#{i}: {line}");
        common::set_enabled(tracefs, &names[i], false);
        common::wait_kernel_bit(words[i], false);
    }
}
