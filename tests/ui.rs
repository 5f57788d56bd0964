//! Compile errors of the macros, checked with trybuild against the messages in `tests/ui/`.
#[test]
fn macro_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
