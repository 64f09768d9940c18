//! `#[derive(StateMachine)]`: an event enum becomes an event-sourced state
//! machine.
//!
//! Pipeline: `attr` reads the attributes, `ast` builds the model (borrowing
//! the input for spans), `check` applies every rule and collects all errors,
//! `expand` generates, with `diagram` rendering the Mermaid and DOT text.
//! When a rule fails, the errors are emitted with a stub `StateMachine` impl
//! ([`fallback`]): a derive never consumes the enum, so it stays, and code
//! naming the machine adds no follow-on errors.
//!
//! The user-facing reference (attribute keys, a trimmed real expansion) is
//! on the `StateMachine` derive in `lib.rs`; the full, untrimmed output is
//! pinned by the snapshot tests in `snapshots/`.

mod ast;
mod attr;
mod check;
mod diagram;
mod expand;

use proc_macro2::TokenStream;
use syn::DeriveInput;

use crate::util::Errors;

/// The derive's pipeline: read, check, generate. Every rule violation is
/// reported together.
pub(crate) fn expand(input: &DeriveInput) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    let machine = ast::Machine::from_syn(input, &mut errors);
    if let Some(machine) = &machine {
        check::check(machine, &mut errors);
    }
    errors.finish()?;
    Ok(machine.map(|m| expand::machine(&m)).unwrap_or_default())
}

/// The errors plus a stub `StateMachine` impl, so code naming the machine
/// (its `#[gate]` functions, `Order::NAME`) does not add follow-on errors
/// to the ones that matter. No stub for generic enums (the impl could not
/// name the type correctly).
pub(crate) fn fallback(input: &DeriveInput, error: &syn::Error) -> TokenStream {
    let error = error.to_compile_error();
    if !input.generics.params.is_empty() {
        return error;
    }
    let mut ignored = Errors::default();
    let attr = attr::machine(&input.attrs, &mut ignored);
    let krate = attr.krate.unwrap_or_else(|| syn::parse_quote!(::batpak));
    let context = attr.context.unwrap_or_else(|| syn::parse_quote!(()));
    let data = attr.data.unwrap_or_else(|| syn::parse_quote!(()));
    let name = &input.ident;
    let name_str = name.to_string();
    quote::quote! {
        #error
        #[automatically_derived]
        impl #krate::MachineTypes for #name {
            type State = #krate::__private::FallbackState;
            type Context = #context;
            type Data = #data;
        }
        #[automatically_derived]
        impl #krate::StateMachine for #name {
            const NAME: &'static str = #name_str;
            const INITIAL: Self::State = #krate::__private::FallbackState::Invalid;
            const STATES: &'static [Self::State] = &[];
            const CATEGORY: u16 = 1;
            const GATES: &'static [#krate::GateSpec<Self>] = &[];
            const KINDS: &'static [#krate::EventKind] = &[];
            fn kind(&self) -> #krate::EventKind {
                #krate::EventKind::new(1, 0)
            }
            fn variant_name(&self) -> &'static str {
                #name_str
            }
            fn apply(
                state: Self::State,
                _event: &Self,
            ) -> ::core::result::Result<Self::State, #krate::InvalidTransition> {
                ::core::result::Result::Ok(state)
            }
        }
    }
}

#[cfg(test)]
mod tests;
