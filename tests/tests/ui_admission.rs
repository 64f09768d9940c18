//! Compile-fail proof that the audit trail cannot be forged from outside
//! batpak: no gated or bypassed `Admission`, no `RawAppend` and no `Bypass`
//! can be built, altered or copied by hand (one case per attempt under
//! `tests/ui/admission/`, each with its committed `.stderr`). The `pass/`
//! case keeps the seam open for another store.

#[test]
fn admissions_cannot_be_forged_altered_or_copied() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui/admission/*.rs");
    cases.pass("ui/admission/pass/*.rs");
}
