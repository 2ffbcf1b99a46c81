//! `#[derive(Command)]` misuse is a compile error on the user's tokens; the
//! `pass` cases show the accepted forms.

#[test]
fn command() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/command/*.rs");
    cases.pass("tests/ui/command/pass/*.rs");
}
