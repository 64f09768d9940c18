//! `#[derive(StateMachine)]`: an event enum becomes an event-sourced state
//! machine.
//!
//! Pipeline: `attr` reads the attributes, `ast` builds the model (borrowing
//! the input for spans), `check` applies every rule and collects all errors,
//! `expand` generates, with `diagram` rendering the Mermaid and DOT text
//! and `timers` reading, checking and generating timed transitions.
//! When a rule fails, the errors are emitted with stubs (`fallback.rs`): a
//! derive never consumes the enum, so it stays, and code naming the machine
//! or its generated items (`create`, handles, steps) adds no follow-on
//! errors.
//!
//! The user-facing reference (attribute keys, a trimmed real expansion) is
//! on the `StateMachine` derive in `lib.rs`; the full, untrimmed output is
//! pinned by the snapshot tests in `snapshots/`.

mod ast;
mod attr;
mod check;
mod diagram;
mod expand;
mod fallback;
mod schema;
mod timers;
mod upcast;

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
        timers::check(machine, &mut errors);
    }
    errors.finish()?;
    Ok(machine.map(|m| expand::machine(&m)).unwrap_or_default())
}

pub(crate) use fallback::fallback;

#[cfg(test)]
mod tests;
