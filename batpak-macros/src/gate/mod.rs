//! `#[gate]`: a plain function becomes a named gate a machine can list.
//!
//! Pipeline: `attr` reads the variant filter, `ast` models the signature,
//! `check` applies the signature rules (every violation reported on the
//! offending token), `expand` re-emits the function and adds its companion
//! and the assertion that its machine lists it (unless `unlisted`). On
//! error the function is emitted unchanged next to the errors, so calls to
//! it add no follow-on errors. The user-facing reference is on `gate` in
//! `lib.rs`.

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
    let function: syn::ItemFn = syn::parse2(item).map_err(|error| {
        syn::Error::new(
            error.span(),
            "#[gate] goes on a function: `fn name(ctx: &Ctx, event: &Machine) -> bool`",
        )
    })?;
    let gate = ast::Gate::from_syn(&function, attr, &mut errors);
    if let Some(gate) = &gate {
        check::check(gate, &mut errors);
    }
    errors.finish()?;
    Ok(gate.map(|g| expand::gate(&g)).unwrap_or_default())
}

/// The item unchanged, plus the errors, plus (when the context and event
/// types can be read) a stub companion, so a machine listing the gate adds
/// no follow-on error.
pub(crate) fn fallback(item: TokenStream, error: &syn::Error) -> TokenStream {
    let error = error.to_compile_error();
    let stub = syn::parse2::<syn::ItemFn>(item.clone())
        .ok()
        .and_then(|function| expand::stub(&function));
    quote!(#item #error #stub)
}

#[cfg(test)]
mod tests;
