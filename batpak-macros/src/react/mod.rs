//! `#[react]`: a plain function becomes a reactor, which a
//! `ReactorRunner` feeds the committed events of one machine and whose
//! decided step it commits on another, exactly once.
//!
//! Pipeline, as `#[gate]`'s: `attr` reads the variant filter, `ast` models
//! the signature, `check` applies the signature rules (every violation
//! reported on the offending token), `expand` re-emits the function and
//! adds its companion. On error the function is emitted unchanged next to
//! the errors. The user-facing reference is on `react` in `lib.rs`.

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
    let attr = attr::react(args, &mut errors);
    let function: syn::ItemFn = syn::parse2(item).map_err(|error| {
        syn::Error::new(
            error.span(),
            "#[react] goes on a function: `fn name(ctx: &Ctx, event: &StoredEvent<Source>) -> \
             Reaction<Target>`",
        )
    })?;
    let reactor = ast::Reactor::from_syn(&function, attr);
    check::check(&reactor, &mut errors);
    errors.finish()?;
    Ok(expand::reactor(&reactor))
}

/// The item unchanged, plus the errors.
pub(crate) fn fallback(item: TokenStream, error: &syn::Error) -> TokenStream {
    let error = error.to_compile_error();
    quote!(#item #error)
}

#[cfg(test)]
mod tests;
