//! What the derive emits beside its errors, so that only those errors show.
//!
//! Without it, every `Order::create(..)` and `Order::load(..)` in the user's
//! crate adds "no function or associated item named `create`", and every
//! gate naming the machine adds more. So, next to the errors: a stub
//! `StateMachine` impl whose state is `FallbackState` (the gate traits are
//! satisfied for any such machine, see `batpak::__private`), and, when the
//! enum and its `states(..)` can be read, stand-ins for everything a caller
//! names: the state module and markers, `OrderState`, `OrderHandle`, one
//! step trait per state offering every variant's method (typed to the first
//! target the variant's `#[transition]` names, so chained steps resolve),
//! the kind constants and `create`, `load`, `state_of`, `submit`, `MERMAID`,
//! `DOT`. The crate never compiles while the errors stand, so none of this
//! runs; bodies call the runtime rather than panic. Nothing here may add an
//! error of its own: names are deduplicated and unknown states skipped.

use std::collections::BTreeSet;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{DeriveInput, Ident, Path, parse_quote};

use super::ast::Machine;
use super::ast::Variant;
use super::attr;
use super::expand::{ctx_param, doc, inner_visibility};
use crate::util::{Errors, ident, snake_case};

/// The errors, the stub impls, and (when the states can be read) the
/// stand-ins for the generated items. Nothing but the errors for a generic
/// enum (the impls could not name the type correctly).
pub(crate) fn fallback(input: &DeriveInput, error: &syn::Error) -> TokenStream {
    let error = error.to_compile_error();
    if !input.generics.params.is_empty() {
        return error;
    }
    let mut ignored = Errors::default();
    let impls = impls(input, &mut ignored);
    let stand_ins = Machine::from_syn(input, &mut ignored)
        .map(|machine| stand_ins(&machine))
        .unwrap_or_default();
    quote! {
        #error
        #impls
        #stand_ins
    }
}

/// `MachineTypes` and `StateMachine` for the type (even one that is not an
/// enum, so its gates add nothing), with `FallbackState`.
fn impls(input: &DeriveInput, ignored: &mut Errors) -> TokenStream {
    let attr = attr::machine(&input.attrs, ignored);
    let krate = attr.krate.unwrap_or_else(|| parse_quote!(::batpak));
    let context = attr.context.unwrap_or_else(|| parse_quote!(()));
    let data = attr.data.unwrap_or_else(|| parse_quote!(()));
    let name = &input.ident;
    let name_str = name.to_string();
    let deserialize = upcasts(input).then(|| {
        // A machine with upcasters derives only `Serialize`: its
        // `Deserialize` would have come from the derive.
        quote! {
            #[automatically_derived]
            impl<'de> #krate::__private::serde::Deserialize<'de> for #name {
                fn deserialize<D>(_deserializer: D) -> ::core::result::Result<Self, D::Error>
                where
                    D: #krate::__private::serde::Deserializer<'de>,
                {
                    ::core::result::Result::Err(
                        <D::Error as #krate::__private::serde::de::Error>::custom(
                            "the machine's derive failed",
                        ),
                    )
                }
            }
        }
    });
    quote! {
        #deserialize
        #[automatically_derived]
        impl #krate::MachineTypes for #name {
            type State = #krate::__private::FallbackState;
            type Context = #context;
            type Data = #data;
        }
        #[automatically_derived]
        impl #krate::StateMachine for #name {
            const NAME: &'static str = #name_str;
            const INITIAL: #krate::__private::FallbackState =
                #krate::__private::FallbackState::Invalid;
            const STATES: &'static [#krate::__private::FallbackState] = &[];
            const CATEGORY: u16 = 1;
            const GATES: &'static [#krate::GateSpec<Self>] = &[];
            const KINDS: &'static [#krate::EventKind] = &[];
            const TERMINAL: &'static [#krate::__private::FallbackState] = &[];
            const SCHEMA: #krate::MachineSchema = #krate::MachineSchema {
                name: #name_str,
                category: 1,
                category_pinned: false,
                variants: &[],
                states: &[],
                initial: "",
                transitions: &[],
                data: ::core::option::Option::None,
                fingerprint: 0,
            };
            fn kind(&self) -> #krate::EventKind {
                #krate::EventKind::new(1, 0)
            }
            fn variant_name(&self) -> &'static str {
                #name_str
            }
            fn apply(
                state: #krate::__private::FallbackState,
                _event: &Self,
            ) -> ::core::result::Result<#krate::__private::FallbackState, #krate::InvalidTransition> {
                ::core::result::Result::Ok(state)
            }
        }
    }
}

/// Whether any variant declares `#[upcast(..)]`.
fn upcasts(input: &DeriveInput) -> bool {
    let syn::Data::Enum(data) = &input.data else {
        return false;
    };
    data.variants
        .iter()
        .any(|v| v.attrs.iter().any(|a| a.path().is_ident("upcast")))
}

/// The declared states, each once, in order.
fn states<'m>(machine: &'m Machine<'_>) -> Vec<&'m Ident> {
    let mut seen = BTreeSet::new();
    machine
        .states()
        .iter()
        .filter(|state| seen.insert(state.to_string()))
        .collect()
}

/// Stand-ins for the items callers name; nothing when `states(..)` is
/// missing or empty.
fn stand_ins(machine: &Machine<'_>) -> TokenStream {
    let states = states(machine);
    let Some(first) = states.first() else {
        return TokenStream::new();
    };
    let krate = &machine.krate;
    let name = machine.ident;
    let vis = machine.vis;
    let inner = inner_visibility(vis);
    let module = machine.module();
    let state_enum = machine.state_enum();
    let handle = machine.handle_enum();
    let initial = machine
        .attr
        .initial
        .as_ref()
        .filter(|initial| states.contains(initial))
        .unwrap_or(first);
    let labels: Vec<String> = states.iter().map(ToString::to_string).collect();
    let steps = step_traits(machine, &states, &module);
    let kinds = kind_constants(machine);
    let (ctx_param, ctx_arg) = ctx_param(machine);
    let stub_doc = doc(" Stand-in emitted next to the derive's errors.");
    quote! {
        #stub_doc
        #vis mod #module {
            #(
                #stub_doc
                #[derive(Debug)]
                #inner enum #states {}
            )*
        }
        #(
            #[automatically_derived]
            impl #krate::__private::Sealed for #module::#states {}
            #[automatically_derived]
            impl #krate::State for #module::#states {
                type Machine = #name;
                const VALUE: #krate::__private::FallbackState =
                    #krate::__private::FallbackState::Invalid;
            }
        )*
        #stub_doc
        #[derive(
            ::core::clone::Clone,
            ::core::marker::Copy,
            ::core::fmt::Debug,
            ::core::cmp::PartialEq,
            ::core::cmp::Eq,
            ::core::hash::Hash,
        )]
        #vis enum #state_enum {
            #(#states,)*
        }
        #[automatically_derived]
        impl ::core::fmt::Display for #state_enum {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(match self {
                    #(Self::#states => #labels,)*
                })
            }
        }
        #stub_doc
        #[derive(::core::fmt::Debug)]
        #vis enum #handle {
            #(#states(#krate::Machine<#name, #module::#states>),)*
        }
        #steps
        #[automatically_derived]
        impl #name {
            #kinds
            #vis const MERMAID: &'static str = "";
            #vis const DOT: &'static str = "";
            #vis const KINDS: &'static [#krate::EventKind] = &[];
            #vis fn create<Db: #krate::MachineStore + ?::core::marker::Sized>(
                store: &Db,
                coordinate: #krate::Coordinate,
            ) -> ::core::result::Result<
                #krate::Machine<Self, #module::#initial>,
                #krate::MachineError<Db::Error>,
            > {
                #krate::__private::create(store, coordinate)
            }
            #vis fn load<Db: #krate::MachineStore + ?::core::marker::Sized>(
                store: &Db,
                coordinate: &#krate::Coordinate,
            ) -> ::core::result::Result<#handle, #krate::MachineError<Db::Error>> {
                let loaded = #krate::__private::load::<Self, Db>(store, coordinate)?;
                ::core::result::Result::Ok(#handle::#initial(loaded.into_handle()?))
            }
            #vis fn state_of<Db: #krate::MachineStore + ?::core::marker::Sized>(
                store: &Db,
                coordinate: &#krate::Coordinate,
            ) -> ::core::result::Result<#state_enum, #krate::MachineError<Db::Error>> {
                #krate::__private::state_of::<Self, Db>(store, coordinate)?;
                ::core::result::Result::Ok(#state_enum::#initial)
            }
            #vis fn submit<Db: #krate::MachineStore + ?::core::marker::Sized>(
                store: &Db,
                #ctx_param
                coordinate: &#krate::Coordinate,
                event: Self,
            ) -> ::core::result::Result<#state_enum, #krate::MachineError<Db::Error>> {
                #krate::__private::submit(store, #ctx_arg, coordinate, event)?;
                ::core::result::Result::Ok(#state_enum::#initial)
            }
        }
        #[automatically_derived]
        impl #handle {
            #vis fn state(&self) -> #state_enum {
                match self {
                    #(Self::#states(_) => #state_enum::#states,)*
                }
            }
            #vis fn version(&self) -> u64 {
                match self {
                    #(Self::#states(handle) => handle.version(),)*
                }
            }
            #vis fn coordinate(&self) -> &#krate::Coordinate {
                match self {
                    #(Self::#states(handle) => handle.coordinate(),)*
                }
            }
            #vis fn data(&self) -> &<#name as #krate::MachineTypes>::Data {
                match self {
                    #(Self::#states(handle) => handle.data(),)*
                }
            }
        }
    }
}

/// One trait per state (`OrderDraftTransitions`) offering every variant's
/// step, each returning the handle of the first target the variant names
/// (its own state when none can be read).
fn step_traits(machine: &Machine<'_>, states: &[&Ident], module: &Ident) -> TokenStream {
    let krate: &Path = &machine.krate;
    let name = machine.ident;
    let vis = machine.vis;
    let (ctx_param, ctx_arg) = ctx_param(machine);
    let mut methods = BTreeSet::new();
    let variants: Vec<_> = machine
        .variants
        .iter()
        .filter(|variant| methods.insert(snake_case(&variant.ident.to_string())))
        .collect();
    let traits = states.iter().map(|state| {
        let trait_name = format_ident!("{}{}Transitions", name, state);
        let mut decls = Vec::new();
        let mut defs = Vec::new();
        for variant in &variants {
            let method = ident(
                &snake_case(&variant.ident.to_string()),
                variant.ident.span(),
            );
            let to = variant
                .transitions
                .iter()
                .map(|t| &t.to)
                .find(|to| states.contains(to))
                .unwrap_or(state);
            let (params, build) = stub_args(machine, variant);
            let signature = quote! {
                #[allow(clippy::too_many_arguments)]
                fn #method<Db: #krate::MachineStore + ?::core::marker::Sized>(
                    self,
                    store: &Db,
                    #ctx_param
                    #(#params),*
                ) -> ::core::result::Result<
                    #krate::Machine<#name, #module::#to>,
                    #krate::StepError<#name, #module::#state, Db::Error>,
                >
            };
            decls.push(quote!(#signature;));
            defs.push(quote! {
                #signature {
                    #krate::__private::step(self, store, #ctx_arg, #build)
                }
            });
        }
        quote! {
            #vis trait #trait_name: ::core::marker::Sized {
                #(#decls)*
            }
            #[automatically_derived]
            impl #trait_name for #krate::Machine<#name, #module::#state> {
                #(#defs)*
            }
        }
    });
    quote!(#(#traits)*)
}

/// A step's field parameters, named by position (`field0`, ..) so a field
/// called `store` or `ctx` (itself one of the errors) cannot clash with the
/// step's own parameters, and the variant built from them.
fn stub_args(machine: &Machine<'_>, variant: &Variant<'_>) -> (Vec<TokenStream>, TokenStream) {
    let name = machine.ident;
    let v = variant.ident;
    let params: Vec<Ident> = (0..variant.fields.len())
        .map(|i| format_ident!("field{i}"))
        .collect();
    let types = variant.fields.iter().map(|f| &f.ty);
    let declared = params
        .iter()
        .zip(types)
        .map(|(p, ty)| quote!(#p: #ty))
        .collect();
    let build = match variant.fields {
        syn::Fields::Unit => quote!(#name::#v),
        syn::Fields::Unnamed(_) => quote!(#name::#v(#(#params),*)),
        syn::Fields::Named(fields) => {
            let names = fields.named.iter().filter_map(|f| f.ident.as_ref());
            quote!(#name::#v { #(#names: #params),* })
        }
    };
    (declared, build)
}

/// `Order::PLACED` and the others, each once.
fn kind_constants(machine: &Machine<'_>) -> TokenStream {
    let krate = &machine.krate;
    let vis = machine.vis;
    let mut seen = BTreeSet::new();
    let constants = machine.variants.iter().filter_map(|variant| {
        let constant = snake_case(&variant.ident.to_string()).to_uppercase();
        if ["KINDS", "MERMAID", "DOT"].contains(&constant.as_str())
            || !seen.insert(constant.clone())
        {
            return None;
        }
        let constant = ident(&constant, variant.ident.span());
        Some(quote!(#vis const #constant: #krate::EventKind = #krate::EventKind::new(1, 0);))
    });
    quote!(#(#constants)*)
}
