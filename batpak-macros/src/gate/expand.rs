//! Generates the gate's companion: the function is re-emitted untouched,
//! followed by an empty braced struct of the same name implementing
//! `MachineGate`. Same name because a braced struct lives only in the type
//! namespace and a function only in the value namespace: both coexist, the
//! function stays callable, and `gates(name)` names the companion.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::LitStr;
use syn::spanned::Spanned;

use super::ast::{Gate, Returns};
use crate::util::respan;

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
    let call = call(gate, context, event);
    let (state_param, data_param) = if gate.middle().is_empty() {
        (quote!(_state), quote!(_data))
    } else {
        (quote!(state), quote!(data))
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
    let check = quote! {
        fn check(
            ctx: &<#event as #krate::MachineTypes>::Context,
            #state_param: <#event as #krate::MachineTypes>::State,
            #data_param: &<#event as #krate::MachineTypes>::Data,
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

/// The call of the gate function from its companion's `check`: the context
/// through `GateContext` and each middle parameter through `GateArg`, each
/// spanned on the user's own type, so a context the machine does not give or
/// a parameter that is neither its state nor its data is an error there,
/// saying what to declare.
fn call(gate: &Gate<'_>, context: &syn::Type, event: &syn::Type) -> TokenStream {
    let krate = &gate.krate;
    let name = gate.ident;
    let state = quote!(<#event as #krate::MachineTypes>::State);
    // rustc reports an unmet trait bound on the trait's `Self` type, so
    // every token of each call takes the span of the user's parameter type
    // (the type behind `&`: on stable a span covers one token).
    let context_span = context.span();
    let reference =
        quote!(<#event as #krate::__private::GateContext<#context, #state>>::context(ctx));
    let ctx = if gate.context_by_value() {
        respan(
            quote!(<#context as #krate::__private::CopyContext>::copied(#reference)),
            context_span,
        )
    } else {
        respan(reference, context_span)
    };
    let middle = gate
        .middle()
        .iter()
        .filter_map(|arg| Gate::ty(arg))
        .map(|ty| {
            let span = match ty {
                syn::Type::Reference(r) => r.elem.span(),
                other => other.span(),
            };
            respan(
                quote!(<#ty as #krate::__private::GateArg<'_, #event, #state>>::pick(&state, data)),
                span,
            )
        });
    quote!(#name(#ctx, #(#middle,)* event))
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
            <#event as #krate::MachineTypes>::State,
        >>::LISTED;
    })
}

/// A companion whose check never runs (it is only emitted next to compile
/// errors): keeps `gates(name)` in a machine resolving while the gate's own
/// mistake is fixed. No listing assertion: that mistake comes first. `None`
/// when the event type is unreadable.
pub(crate) fn stub(function: &syn::ItemFn) -> Option<TokenStream> {
    let mut ignored = crate::util::Errors::default();
    let attr = super::attr::gate(TokenStream::new(), &mut ignored);
    let gate = Gate::from_syn(function, attr, &mut ignored)?;
    let event = gate.event()?;
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
                _ctx: &<#event as #krate::MachineTypes>::Context,
                _state: <#event as #krate::MachineTypes>::State,
                _data: &<#event as #krate::MachineTypes>::Data,
                _event: &#event,
            ) -> ::core::result::Result<(), #krate::Denial> {
                ::core::result::Result::Ok(())
            }
        }
    })
}
