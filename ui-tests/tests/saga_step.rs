//! Compile-fail (and compile-pass) cases of `#[saga_step]`.

#[test]
fn saga_step() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/saga_step/*.rs");
    cases.pass("tests/ui/saga_step/pass/*.rs");
}
