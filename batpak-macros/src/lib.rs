//! Procedural macros for batpak: `#[derive(StateMachine)]` and `#[gate]`.
//!
//! Use them through `batpak` (`use batpak::prelude::*;`), never by naming
//! this crate. This file only parses, delegates and turns errors into
//! `compile_error!`; each macro is a pipeline in its own module:
//! `attr` (read attributes) → `ast` (our model) → `check` (rules across
//! attributes, every error collected) → `expand` (code generation).

mod gate;
mod state_machine;
mod util;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Derives an event-sourced state machine from an event enum.
///
/// See [`state_machine`](mod@state_machine) for the attribute reference and
/// a trimmed real expansion.
#[proc_macro_derive(StateMachine, attributes(machine, transition))]
pub fn derive_state_machine(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    state_machine::expand(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns a function into a named gate of a machine.
///
/// See [`gate`](mod@gate) for accepted signatures and what is generated.
#[proc_macro_attribute]
pub fn gate(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = proc_macro2::TokenStream::from(args);
    let item = proc_macro2::TokenStream::from(item);
    gate::expand(args, item.clone())
        .unwrap_or_else(|error| gate::fallback(item, &error))
        .into()
}
