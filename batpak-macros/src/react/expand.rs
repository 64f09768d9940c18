//! Generates the reactor's companion: the function is re-emitted
//! untouched, followed by an empty braced struct of the same name
//! implementing `Reactor` (the same trick as `#[gate]`: the struct lives in
//! the type namespace, the function in the value namespace), so
//! `ReactorRunner::<ship>` names the reactor and the function stays
//! callable.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::LitStr;
use syn::spanned::Spanned;

use super::ast::Reactor;
use crate::util::respan;

/// The function and its companion.
pub(crate) fn reactor(reactor: &Reactor<'_>) -> TokenStream {
    let original = reactor.original;
    let (Some(context), Some(source), Some(target)) =
        (reactor.context(), reactor.source(), reactor.target())
    else {
        // check.rs has reported why; never reached after a clean check.
        return quote!(#original);
    };
    let krate = &reactor.krate;
    let name = reactor.ident;
    let vis = &original.vis;
    let name_str = LitStr::new(&name.to_string(), name.span());
    let description = LitStr::new(&reactor.description, Span::call_site());
    let companion_doc = LitStr::new(
        &format!(
            " Reactor companion of [`{name}()`](fn@{name}): lets `ReactorRunner::<{name}>` run \
             the reactor and carries its name, description and variant filter."
        ),
        Span::call_site(),
    );
    let applies = if reactor.filter.is_empty() {
        quote!(fn applies(_event: &#source) -> bool { true })
    } else {
        let patterns = reactor.filter.iter().map(|path| quote!(#path { .. }));
        quote! {
            fn applies(event: &#source) -> bool {
                ::core::matches!(event, #(#patterns)|*)
            }
        }
    };
    // A context the target machine does not give is a type error on the
    // user's own parameter type.
    let ctx = if reactor.context_by_value() {
        respan(
            quote!(#krate::__private::CopyContext::copied(ctx)),
            context.span(),
        )
    } else {
        respan(quote!(ctx), context.span())
    };
    quote! {
        #original

        #[doc = #companion_doc]
        #[allow(non_camel_case_types)]
        #vis struct #name {}

        #[automatically_derived]
        impl #krate::Reactor for #name {
            type Source = #source;
            type Target = #target;
            const NAME: &'static str = #name_str;
            const DESCRIPTION: &'static str = #description;
            #applies
            fn react(
                ctx: &<#target as #krate::MachineTypes>::Context,
                event: &#krate::StoredEvent<#source>,
            ) -> #krate::Reaction<#target> {
                #name(#ctx, event)
            }
        }
    }
}
