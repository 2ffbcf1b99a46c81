//! `#[event_handler]` misuse is a compile error on the user's tokens.

#[test]
fn event_handler() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/event_handler/*.rs");
    cases.pass("tests/ui/event_handler/pass/*.rs");
}
