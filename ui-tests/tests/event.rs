//! `#[derive(Event)]` misuse is a compile error on the user's tokens.

#[test]
fn event() {
    trybuild::TestCases::new().compile_fail("tests/ui/event/*.rs");
}
