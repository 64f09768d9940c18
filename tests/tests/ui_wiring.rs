//! Compile-time checks of timed transitions (`after = ".."` in
//! `#[transition]`) and `#[react]`: every misuse is a compile error that
//! points at the mistake and says the fix (one trybuild case per mistake,
//! named for it, with its `.stderr`), and every accepted form compiles.

#[test]
fn timer_and_reactor_ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("ui/timer/pass/*.rs");
    cases.pass("ui/react/pass/*.rs");
    cases.compile_fail("ui/timer/*.rs");
    cases.compile_fail("ui/react/*.rs");
}
