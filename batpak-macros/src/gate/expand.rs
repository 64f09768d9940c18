//! Generates the gate's companion: the function is re-emitted untouched,
//! followed by an empty braced struct of the same name implementing
//! `MachineGate`. Same name because a braced struct lives only in the type
//! namespace and a function only in the value namespace: both coexist, the
//! function stays callable, and `gates(name)` names the companion.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::LitStr;

use super::ast::{Gate, Returns};

/// The function and its companion.
pub(crate) fn gate(gate: &Gate<'_>) -> TokenStream {
    let (Some(context), Some(event), Some(returns)) =
        (gate.context(), gate.event(), gate.returns())
    else {
        // check.rs has reported why; never reached after a clean check.
        let original = gate.original;
        return quote!(#original);
    };
    let krate = &gate.krate;
    let original = gate.original;
    let name = gate.ident;
    let vis = &original.vis;
    let name_str = LitStr::new(&name.to_string(), name.span());
    let description = LitStr::new(&gate.description, Span::call_site());
    let companion_doc = LitStr::new(
        &format!(
            " Gate companion of [`{name}()`](fn@{name}): lets `#[machine(gates({name}))]` name \
             the gate and carries its name, description and variant filter."
        ),
        Span::call_site(),
    );
    let applies = if gate.filter.is_empty() {
        quote!(fn applies(_event: &#event) -> bool { true })
    } else {
        let patterns = gate.filter.iter().map(|path| quote!(#path { .. }));
        quote! {
            fn applies(event: &#event) -> bool {
                ::core::matches!(event, #(#patterns)|*)
            }
        }
    };
    let (state_param, call) = if gate.takes_state() {
        (quote!(state), quote!(#name(ctx, &state, event)))
    } else {
        (quote!(_state), quote!(#name(ctx, event)))
    };
    let body = match returns {
        Returns::Result => call,
        Returns::Bool => {
            let message = if gate.description.is_empty() {
                format!("denied by gate `{name}`")
            } else {
                gate.description.clone()
            };
            let message = LitStr::new(&message, Span::call_site());
            quote! {
                if #call {
                    ::core::result::Result::Ok(())
                } else {
                    ::core::result::Result::Err(#krate::Denial::new(#name_str, #message))
                }
            }
        }
    };
    // The user's own `&Ctx` tokens: a context that is not the machine's is
    // reported on them, with a suggestion that fits.
    let context_ref = gate
        .context_ref()
        .map_or_else(|| quote!(&#context), |ty| quote!(#ty));
    let check = quote! {
        fn check(
            ctx: #context_ref,
            #state_param: <#event as #krate::StateMachine>::State,
            event: &#event,
        ) -> ::core::result::Result<(), #krate::Denial> {
            #body
        }
    };
    let listed = listed(gate, event);
    quote! {
        #original

        #[doc = #companion_doc]
        #[allow(non_camel_case_types)]
        #vis struct #name {}

        #[automatically_derived]
        impl #krate::MachineGate<#event> for #name {
            const NAME: &'static str = #name_str;
            const DESCRIPTION: &'static str = #description;
            #applies
            #check
        }

        #listed
    }
}

/// The assertion that the gate's machine lists it: a gate left out of
/// `#[machine(gates(..))]` would never run, and nothing else would say so
/// (a `pub` gate is not even an unused function). The derive implements
/// `ListedGate` for each gate it lists; this names `LISTED` through that
/// impl, so a missing one is an error (its message comes from the trait's
/// `on_unimplemented`). Every token carries the gate's name's span, so the
/// error points at the name. Nothing for an `unlisted` gate.
fn listed(gate: &Gate<'_>, event: &syn::Type) -> Option<TokenStream> {
    if gate.unlisted {
        return None;
    }
    let krate = &gate.krate;
    let name = gate.ident;
    Some(quote_spanned! {name.span()=>
        const _: () = <#name as #krate::__private::ListedGate<
            #event,
            <#event as #krate::StateMachine>::State,
        >>::LISTED;
    })
}

/// A companion whose check never runs (it is only emitted next to compile
/// errors): keeps `gates(name)` in a machine resolving while the gate's own
/// mistake is fixed. No listing assertion: that mistake comes first. `None`
/// when the context or event type is unreadable.
pub(crate) fn stub(function: &syn::ItemFn) -> Option<TokenStream> {
    let mut ignored = crate::util::Errors::default();
    let attr = super::attr::gate(TokenStream::new(), &mut ignored);
    let gate = Gate::from_syn(function, attr, &mut ignored)?;
    let (Some(context), Some(event)) = (gate.context(), gate.event()) else {
        return None;
    };
    let krate = &gate.krate;
    let name = gate.ident;
    let vis = &function.vis;
    let name_str = LitStr::new(&name.to_string(), name.span());
    Some(quote! {
        #[allow(non_camel_case_types)]
        #vis struct #name {}

        #[automatically_derived]
        impl #krate::MachineGate<#event> for #name {
            const NAME: &'static str = #name_str;
            const DESCRIPTION: &'static str = "";
            fn applies(_event: &#event) -> bool { true }
            fn check(
                _ctx: &#context,
                _state: <#event as #krate::StateMachine>::State,
                _event: &#event,
            ) -> ::core::result::Result<(), #krate::Denial> {
                ::core::result::Result::Ok(())
            }
        }
    })
}
