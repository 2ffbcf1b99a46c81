//! `#[derive(Event)]` misuse is a compile error on the user's tokens; the
//! `pass` cases show the accepted forms.

#[test]
fn event() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/event/*.rs");
    cases.pass("tests/ui/event/pass/*.rs");
}
