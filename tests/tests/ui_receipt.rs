//! Compile-fail proof that a `Receipt` cannot be forged, cloned or altered
//! outside batpak; one case per attempt under `tests/ui/receipt/`, each with
//! its committed `.stderr`. The `pass/` case keeps the legitimate path honest.

#[test]
fn receipt_cannot_be_forged_cloned_or_altered() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui/receipt/*.rs");
    cases.pass("ui/receipt/pass/*.rs");
}
