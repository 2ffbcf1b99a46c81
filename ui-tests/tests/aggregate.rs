//! Compile-fail and compile-pass cases for `#[aggregate]` and `#[apply]`.

#[test]
fn aggregate() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/aggregate/pass/*.rs");
    cases.compile_fail("tests/ui/aggregate/*.rs");
}
