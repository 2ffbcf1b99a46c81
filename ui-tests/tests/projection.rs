//! Compile-fail and compile-pass cases for `#[projection]` and `#[handle]`.

#[test]
fn projection() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/projection/pass/*.rs");
    cases.compile_fail("tests/ui/projection/*.rs");
}
