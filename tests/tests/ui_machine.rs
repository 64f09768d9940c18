//! Compile-time checks of `#[derive(StateMachine)]` and `#[gate]`: every
//! misuse is a compile error that points at the mistake and says the fix
//! (one trybuild case per mistake, named for it, with its `.stderr`), and
//! every accepted form compiles (`pass/`).

#[test]
fn machine_and_gate_ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("ui/machine/pass/*.rs");
    cases.pass("ui/gate/pass/*.rs");
    cases.compile_fail("ui/machine/*.rs");
    cases.compile_fail("ui/gate/*.rs");
}
