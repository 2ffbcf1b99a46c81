//! Misuse of an event's schema history (`alias`, `since`, `upcast(...)` in
//! `#[event(...)]`) is a compile error on the user's tokens; the `pass`
//! case shows the accepted forms.

#[test]
fn evolution() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/evolution/*.rs");
    cases.pass("tests/ui/evolution/pass/*.rs");
}
