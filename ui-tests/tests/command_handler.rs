//! `#[command_handler]` misuse is a compile error on the user's tokens; the
//! `pass` cases show the accepted forms.

#[test]
fn command_handler() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/command_handler/*.rs");
    cases.pass("tests/ui/command_handler/pass/*.rs");
}
