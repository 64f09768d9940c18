//! `#[gate]`: a plain function becomes a named gate a machine can list.
//!
//! Accepted signatures (parameter names are free; each is a shared
//! reference):
//!
//! ```text
//! #[gate]                 fn open(ctx: &Shop, event: &Order) -> bool
//! #[gate(Order::Placed)]  fn limit(ctx: &Shop, event: &Order) -> Result<(), Denial>
//! #[gate]                 fn calm(ctx: &Shop, state: &OrderState, event: &Order) -> bool
//! ```
//!
//! `#[gate]` alone runs on every transition of a machine that lists it in
//! `#[machine(gates(..))]`; `#[gate(Order::Placed, ..)]` only on those
//! variants; `crate = path` names the runtime crate when it is not
//! `::batpak`. A `bool` gate that returns `false` is denied with code = the
//! gate's name and message = its doc comment.
//!
//! # What is generated
//! The function is kept as written (it stays callable). Beside it comes a
//! *companion*: an empty braced struct with the same name. A braced struct
//! lives only in the type namespace and a function only in the value
//! namespace, so both coexist, and `gates(limit)` in `#[machine]` names the
//! companion with no new name for users to learn. The companion implements
//! `batpak::MachineGate<Order>` carrying the name, the doc comment as
//! description, the variant filter and a call to the function:
//!
//! ```text
//! /// Gate companion of [`limit`]: ...
//! #[allow(non_camel_case_types)]
//! pub struct limit {}
//! #[automatically_derived]
//! impl ::batpak::MachineGate<Order> for limit {
//!     const NAME: &'static str = "limit";
//!     const DESCRIPTION: &'static str = "Orders above the credit limit are refused.";
//!     fn applies(event: &Order) -> bool { matches!(event, Order::Placed { .. }) }
//!     fn check(ctx: &Shop, _state: <Order as ::batpak::StateMachine>::State, event: &Order)
//!         -> Result<(), ::batpak::Denial> { limit(ctx, event) }
//! }
//! ```
//!
//! On error the function is emitted unchanged next to the errors, so calls
//! to it do not add follow-on errors.

mod ast;
mod attr;
mod check;
mod expand;

use proc_macro2::TokenStream;
use quote::quote;

use crate::util::Errors;

/// The attribute's pipeline: read the filter, model the signature, check
/// it, generate the companion.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    let attr = attr::gate(args, &mut errors);
    let function: syn::ItemFn = syn::parse2(item)?;
    let gate = ast::Gate::from_syn(&function, attr, &mut errors);
    if let Some(gate) = &gate {
        check::check(gate, &mut errors);
    }
    errors.finish()?;
    Ok(gate.map(|g| expand::gate(&g)).unwrap_or_default())
}

/// The item unchanged, plus the errors.
pub(crate) fn fallback(item: TokenStream, error: &syn::Error) -> TokenStream {
    let error = error.to_compile_error();
    quote!(#item #error)
}

#[cfg(test)]
mod tests;
