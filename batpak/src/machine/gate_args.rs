//! How a `#[gate]` function gets its arguments: the context it names must
//! be its machine's ([`GateContext`]), and every parameter between the
//! context and the event is the state or the data, picked by its type
//! ([`GateArg`]).
//!
//! Both are traits rather than plain types in the generated signature so a
//! mismatch is one error on the user's own parameter that says what to add
//! to `#[machine(..)]`, not a signature mismatch that suggests taking `&()`.
//! The derive implements them for each machine; a machine whose derive
//! failed (state [`FallbackState`]) satisfies both for every type, so only
//! the derive's own errors show. Nothing here runs a gate or reads a store.

use super::definition::{FallbackState, MachineTypes};

// Both build on `MachineTypes`, not `StateMachine`: a bound on the latter
// would repeat each error of a machine that forgot `#[derive(Serialize,
// Deserialize)]` once more per impl.

/// Machine `Self` gives its gates context `C`: the derive implements it for
/// the type named in `#[machine(context = C)]` (`()` when none is). `S` is
/// `Self::State`, so the impl for failed machines below cannot overlap the
/// derive's.
#[diagnostic::on_unimplemented(
    message = "this gate takes context `{C}`, but machine `{Self}` gives its gates another context",
    label = "not the context of `{Self}`",
    note = "a machine's gates read the context named in `#[machine(.., context = T)]` (none means `()`); if `{Self}` declares no context, add `context = {C}` to its `#[machine(..)]`; otherwise take `&` that context here"
)]
pub trait GateContext<C: ?Sized, S>: MachineTypes {
    /// The context, as the gate's type.
    fn context(ctx: &Self::Context) -> &C;
}

/// A machine whose derive failed accepts any context, so its gates add no
/// errors to the derive's. Never called: the crate does not compile.
impl<C: ?Sized, M: MachineTypes<State = FallbackState>> GateContext<C, FallbackState> for M {
    fn context(_ctx: &M::Context) -> &C {
        unreachable!("a machine whose derive failed never runs")
    }
}

/// A context a gate takes by value (`_ctx: ()`, `limit: u64`): a copy of the
/// machine's, so it must be `Copy`. (Small contexts by value keep clippy's
/// pedantic `trivially_copy_pass_by_ref` quiet in the user's crate.)
#[diagnostic::on_unimplemented(
    message = "this gate takes its context `{Self}` by value, which needs `Copy`",
    label = "not `Copy`",
    note = "take `&{Self}` instead; by value suits small `Copy` contexts such as `()` or a number"
)]
pub trait CopyContext: Sized {
    /// A copy of the context.
    fn copied(ctx: &Self) -> Self;
}

impl<T: Copy> CopyContext for T {
    fn copied(ctx: &Self) -> Self {
        *ctx
    }
}

/// A parameter a gate of machine `M` may take between its context and its
/// event: the state (`OrderState` or `&OrderState`) or the data
/// (`&LoanFile`, the type named in `#[machine(data = ..)]`). The derive
/// implements it for exactly those types; `S` is `M::State`, as in
/// [`GateContext`].
#[diagnostic::on_unimplemented(
    message = "a gate of machine `{M}` cannot take `{Self}`",
    label = "neither the state nor the data of `{M}`",
    note = "between the context and the event a gate may take the state, as `{S}` (by value) or `&{S}`, and the data, as `&T` for the `T` in `#[machine(.., data = T)]` (declare `data = ..` on `{M}` if it has none)"
)]
pub trait GateArg<'a, M: MachineTypes, S>: Sized {
    /// This parameter, from the state and data before the event.
    fn pick(state: &'a M::State, data: &'a M::Data) -> Self;
}

/// A machine whose derive failed accepts any parameter, as above.
impl<'a, T, M: MachineTypes<State = FallbackState>> GateArg<'a, M, FallbackState> for T {
    fn pick(_state: &'a M::State, _data: &'a M::Data) -> Self {
        unreachable!("a machine whose derive failed never runs")
    }
}
