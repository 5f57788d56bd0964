//! Ownership of the enable word's count (issue 9): LTTng's count is LTTng's share, which an
//! in-process tracer can neither release nor have wiped, and a forked child gives back only
//! LTTng's share. Against a real, private lttng-sessiond.

mod common;

use common::{Lttng, isolated};
use cotrace_ust::{EventSpec, FieldSpec, FieldType, Loglevel, Value, register_provider};
use cotrace_word::{EnableWord, UserShare, WordError};

static WORD: EnableWord = EnableWord::new();
static EV: EventSpec = EventSpec {
    provider: "p_own",
    event: "ev",
    loglevel: Loglevel::Info,
    fields: &[FieldSpec {
        name: "n",
        ty: FieldType::U64,
    }],
    word: &WORD,
};

#[test]
fn in_process_tracer_cannot_take_lttngs_count_nor_a_fork_wipe_its_own() {
    isolated(
        "in_process_tracer_cannot_take_lttngs_count_nor_a_fork_wipe_its_own",
        || {
            let mut lttng = Lttng::start("own");
            lttng.create("own");
            lttng.lttng(&["enable-event", "-u", "p_own:*", "-s", "own"]);
            lttng.lttng(&["start", "own"]);
            let p = register_provider("p_own", &[&EV]).unwrap();
            let e = p.event("ev").unwrap();
            assert_eq!((WORD.snapshot().users(), e.attached()), (1, 1));

            // An in-process tracer with nothing held cannot release LTTng's count.
            let outsider = UserShare::new(&WORD);
            assert_eq!(outsider.release(), Err(WordError::NotHeld));
            assert_eq!(outsider.release_all(), 0);
            assert_eq!(WORD.snapshot().users(), 1, "LTTng's count was taken");
            e.fire(&[Value::U64(1)]).unwrap();

            // Fork while both LTTng and an in-process tracer hold a count: the child gives
            // back LTTng's share only (LTTng may attach the child's own session again).
            let guard = WORD.acquire_user().unwrap();
            assert_eq!(WORD.snapshot().users(), 2);
            // SAFETY: the child only reads atomics and calls _exit.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0, "fork failed");
            if pid == 0 {
                let users = WORD.snapshot().users();
                let lttng_share = e.attached();
                let code = if users == lttng_share + 1 {
                    0
                } else {
                    10 + users as i32
                };
                // SAFETY: ends the forked child without running the parent's destructors.
                unsafe { libc::_exit(code) };
            }
            let mut status = 0;
            // SAFETY: waits for the child forked above.
            assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
            assert!(libc::WIFEXITED(status), "child did not exit: {status:#x}");
            assert_eq!(
                libc::WEXITSTATUS(status),
                0,
                "in the child the word's count is not LTTng's share + the in-process tracer's \
                 1 (exit code 10 + count)"
            );
            assert_eq!(WORD.snapshot().users(), 2, "the parent's counts moved");
            drop(guard);
            assert_eq!((WORD.snapshot().users(), e.attached()), (1, 1));
            e.fire(&[Value::U64(2)]).unwrap();
            p.unregister();
            assert_eq!(WORD.snapshot().raw(), 0);
            lttng.lttng(&["stop", "own"]);
            let ns: Vec<String> = lttng
                .events("own")
                .iter()
                .map(|ev| ev.get("n").to_owned())
                .collect();
            assert_eq!(ns, ["1", "2"]);
        },
    );
}
