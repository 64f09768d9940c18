//! Code generation for a checked machine. Each function builds one group of
//! items with `parse_quote!` (so malformed output fails here, not in the
//! user's crate); [`machine`] lists them in the order a reader of
//! `cargo expand` meets them.
//!
//! Generated code uses absolute paths only (`::core`, the runtime crate's
//! root), documents every public item and marks impls
//! `#[automatically_derived]`.

use std::collections::BTreeSet;

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};
use syn::spanned::Spanned;
use syn::{Fields, Ident, Item, LitStr, Pat, Path, parse_quote, parse_quote_spanned};

use super::ast::{Machine, Variant};
use super::diagram;
use crate::util::{ident, snake_case};

/// Everything one derive emits.
pub(crate) fn machine(machine: &Machine<'_>) -> TokenStream {
    let names = Names::new(machine);
    let (step_markers, unavailable) = unavailable_steps(machine, &names);
    let mut items = Vec::new();
    items.extend(state_module(machine, &names, &step_markers));
    items.extend(state_enum(machine, &names));
    items.extend(state_markers(machine, &names));
    items.push(machine_types_impl(machine, &names));
    items.push(state_machine_impl(machine, &names));
    items.extend(listed_gates(machine, &names));
    items.extend(gate_stand_ins(machine));
    items.extend(gate_args(machine, &names));
    items.extend(transitions(machine, &names));
    items.extend(unavailable);
    items.extend(handle_enum(machine, &names));
    items.push(inherent(machine, &names));
    items.push(kinds(machine));
    items.extend(super::upcast::items(machine));
    quote!(#(#items)*)
}

/// Names of the generated items, derived from the enum's.
struct Names {
    /// The runtime crate root.
    krate: Path,
    /// The state module as generated code names it (`__order_states`);
    /// see [`state_module`].
    module: Ident,
    /// The state module as users name it (`order`, or `rename(module = ..)`).
    public_module: Ident,
    /// The runtime state enum (`OrderState`).
    state: Ident,
    /// The loaded-handle enum (`OrderHandle`).
    handle: Ident,
}

impl Names {
    fn new(machine: &Machine<'_>) -> Self {
        Self {
            krate: machine.krate.clone(),
            module: format_ident!("__{}_states", machine.module()),
            public_module: machine.module(),
            state: machine.state_enum(),
            handle: machine.handle_enum(),
        }
    }

    /// The trait holding the typed steps out of `state`.
    fn steps(&self, machine: &Machine<'_>, state: &Ident) -> Ident {
        format_ident!("{}{}Transitions", machine.ident, state)
    }
}

/// The doc of the inherent impl, which rustdoc shows on the enum's page: a
/// map of everything the derive generated, linked, and the gates that run.
fn overview_doc(machine: &Machine<'_>, names: &Names) -> TokenStream {
    let name = machine.ident;
    let Names {
        public_module,
        state,
        handle,
        ..
    } = names;
    let traits: Vec<String> = machine
        .states()
        .iter()
        .filter(|from| machine.edges().any(|(f, _, _)| f == *from))
        .map(|from| format!("[`{}`]", names.steps(machine, from)))
        .collect();
    let gates = match gate_list(machine).as_str() {
        "none" => "none: every legal step commits".to_owned(),
        list => format!("{list} (each runs on the events its `#[gate(..)]` names)"),
    };
    doc(&format!(
        " What `#[derive(StateMachine)]` generated for [`{name}`]: the state markers in \
         [`{public_module}`] (the `S` of a typed handle `Machine<{name}, S>`), the runtime \
         state [`{state}`], the handle enum [`{handle}`] that [`{name}::load`] returns, and \
         one step trait per state with steps: {}.\n\n Gates: {gates}.",
        traits.join(", ")
    ))
}

/// The machine's gates as a doc list (`none` without gates).
fn gate_list(machine: &Machine<'_>) -> String {
    let gates: Vec<String> = machine
        .attr
        .gates
        .iter()
        .map(|g| format!("`{}`", quote!(#g).to_string().replace(' ', "")))
        .collect();
    if gates.is_empty() {
        "none".to_owned()
    } else {
        gates.join(", ")
    }
}

/// One `#[doc = ".."]` per line, so formatted output reads as `///` lines.
pub(super) fn doc(text: &str) -> TokenStream {
    let lines = text
        .split('\n')
        .map(|line| LitStr::new(line, proc_macro2::Span::call_site()));
    quote!(#(#[doc = #lines])*)
}

/// `mod __order_states { pub enum Draft {} .. }`: one marker type per
/// state, and the hidden step markers of [`unavailable_steps`], re-exported
/// as `order`. Generated code names the module by its hidden name, so a
/// user's own `mod order` collides only with the re-export: one error
/// ("the name `order` is defined multiple times"), fixed by
/// `rename(module = ..)`, instead of one per path into the module.
fn state_module(machine: &Machine<'_>, names: &Names, step_markers: &[TokenStream]) -> Vec<Item> {
    let vis = machine.vis;
    let module = &names.module;
    // Spanned on the derive, not the enum's name: on a collision rustc
    // would suggest `as other_order` right after the span.
    let mut public = names.public_module.clone();
    public.set_span(proc_macro2::Span::call_site());
    let name = machine.ident;
    let module_doc = doc(&format!(
        " States of [`{name}`]: one marker type per state, used as the `S` of a typed handle \
         `Machine<{name}, S>`.\n\n Markers are uninhabited enums: zero-sized, never built, they \
         exist only in types."
    ));
    let inner = inner_visibility(vis);
    let markers = machine.states().iter().map(|state| {
        let text = doc(&format!(
            " `{name}` in state `{state}`{}.",
            state_note(machine, state)
        ));
        quote! {
            #text
            #[derive(Debug)]
            #inner enum #state {}
        }
    });
    vec![
        parse_quote! {
            #[doc(hidden)]
            #vis mod #module {
                #(#markers)*
                #(#step_markers)*
            }
        },
        parse_quote! {
            #module_doc
            #[doc(inline)]
            // Unused when the markers are only named through handles.
            #[allow(unused_imports)]
            #vis use #module as #public;
        },
    ]
}

/// The enum's visibility as seen from inside the state module: a private
/// enum's markers are `pub(super)`, a `pub(super)` enum's are
/// `pub(in super::super)`, others keep theirs. (Plain `pub` would leak a
/// private enum through `State::Machine`.)
pub(super) fn inner_visibility(vis: &syn::Visibility) -> syn::Visibility {
    match vis {
        syn::Visibility::Inherited => parse_quote!(pub(super)),
        syn::Visibility::Restricted(r) if r.path.is_ident("self") => parse_quote!(pub(super)),
        syn::Visibility::Restricted(r) if r.path.is_ident("super") => {
            parse_quote!(pub(in super::super))
        }
        syn::Visibility::Restricted(r)
            if r.path.segments.first().is_some_and(|s| s.ident == "super") =>
        {
            let path = &r.path;
            parse_quote!(pub(in super::#path))
        }
        other => other.clone(),
    }
}

/// " (initial)", " (terminal)" or nothing.
fn state_note(machine: &Machine<'_>, state: &Ident) -> &'static str {
    if machine.attr.initial.as_ref() == Some(state) {
        " (initial)"
    } else if machine.attr.terminal.contains(state) {
        " (terminal)"
    } else {
        ""
    }
}

/// `enum OrderState { Draft, .. }` with `Display` and serde.
fn state_enum(machine: &Machine<'_>, names: &Names) -> Vec<Item> {
    let Names { krate, state, .. } = names;
    let vis = machine.vis;
    let name = machine.ident;
    let serde_path = LitStr::new(
        &quote!(#krate::__private::serde)
            .to_string()
            .replace(' ', ""),
        proc_macro2::Span::call_site(),
    );
    let enum_doc = doc(&format!(
        " The run-time state of one [`{name}`] entity (typed handles carry it in their type instead)."
    ));
    let states = machine.states();
    let variants = states.iter().map(|s| {
        let text = doc(&format!(" `{s}`{}.", state_note(machine, s)));
        quote!(#text #s)
    });
    let labels = states.iter().map(|s| LitStr::new(&s.to_string(), s.span()));
    vec![
        parse_quote! {
            #enum_doc
            #[derive(
                ::core::clone::Clone,
                ::core::marker::Copy,
                ::core::fmt::Debug,
                ::core::cmp::PartialEq,
                ::core::cmp::Eq,
                ::core::hash::Hash,
                #krate::__private::serde::Serialize,
                #krate::__private::serde::Deserialize,
            )]
            #[serde(crate = #serde_path)]
            #vis enum #state {
                #(#variants,)*
            }
        },
        parse_quote! {
            #[automatically_derived]
            impl ::core::fmt::Display for #state {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    f.write_str(match self {
                        #(Self::#states => #labels,)*
                    })
                }
            }
        },
    ]
}

/// `impl State for order::Draft` (and the seal) for every state.
fn state_markers(machine: &Machine<'_>, names: &Names) -> Vec<Item> {
    let Names {
        krate,
        module,
        state,
        ..
    } = names;
    let name = machine.ident;
    machine
        .states()
        .iter()
        .flat_map(|s| {
            [
                parse_quote! {
                    #[automatically_derived]
                    impl #krate::__private::Sealed for #module::#s {}
                },
                parse_quote! {
                    #[automatically_derived]
                    impl #krate::State for #module::#s {
                        type Machine = #name;
                        const VALUE: #state = #state::#s;
                    }
                },
            ]
        })
        .collect()
}

/// The pattern matching any value of `variant`: `Self::A`, `Self::A(..)`
/// or `Self::A { .. }`.
fn pattern(variant: &Variant<'_>) -> Pat {
    let v = variant.ident;
    match variant.fields {
        Fields::Unit => parse_quote!(Self::#v),
        Fields::Unnamed(_) => parse_quote!(Self::#v(..)),
        Fields::Named(_) => parse_quote!(Self::#v { .. }),
    }
}

/// `impl StateMachine for Order`: names, kinds and the transition table.
fn state_machine_impl(machine: &Machine<'_>, names: &Names) -> Item {
    let Names { krate, state, .. } = names;
    let name = machine.ident;
    let name_str = LitStr::new(&name.to_string(), name.span());
    let initial = &machine.attr.initial;
    let states = machine.states();
    let category = Literal::u16_unsuffixed(machine.category.value);
    let kind_names: Vec<Ident> = machine.variants.iter().map(kind_const).collect();
    let gates = &machine.attr.gates;
    let patterns: Vec<Pat> = machine.variants.iter().map(pattern).collect();
    let labels: Vec<LitStr> = machine
        .variants
        .iter()
        .map(|v| LitStr::new(&v.ident.to_string(), v.ident.span()))
        .collect();
    let arms = table_arms(machine, names);
    let terminal = &machine.attr.terminal;
    let covered: BTreeSet<(String, String)> = machine
        .edges()
        .map(|(from, variant, _)| (from.to_string(), variant.ident.to_string()))
        .collect();
    let timers = super::timers::table(machine, state);
    let direct_appends = machine.attr.accept_direct_appends.then(|| {
        quote!(
            const ACCEPTS_DIRECT_APPENDS: bool = true;
        )
    });
    let schema = super::schema::schema(machine);
    let fallback = (covered.len() < states.len() * machine.variants.len()).then(|| {
        quote! {
            _ => ::core::result::Result::Err(#krate::InvalidTransition::new(
                #name_str,
                state,
                match event {
                    #(#patterns => #labels,)*
                },
            )),
        }
    });
    parse_quote! {
        #[automatically_derived]
        impl #krate::StateMachine for #name {
            const NAME: &'static str = #name_str;
            const INITIAL: #state = #state::#initial;
            const STATES: &'static [#state] = &[#(#state::#states),*];
            const CATEGORY: u16 = #category;
            const GATES: &'static [#krate::GateSpec<Self>] = &[
                #(#krate::GateSpec::<Self>::of::<#gates>()),*
            ];
            const KINDS: &'static [#krate::EventKind] = &[#(#name::#kind_names),*];
            const SCHEMA: #krate::MachineSchema = #schema;
            const TERMINAL: &'static [#state] = &[#(#state::#terminal),*];
            #direct_appends
            #timers

            fn kind(&self) -> #krate::EventKind {
                match self {
                    #(#patterns => Self::#kind_names,)*
                }
            }

            fn variant_name(&self) -> &'static str {
                match self {
                    #(#patterns => #labels,)*
                }
            }

            fn apply(
                state: #state,
                event: &Self,
            ) -> ::core::result::Result<#state, #krate::InvalidTransition> {
                match (state, event) {
                    #(#arms)*
                    #fallback
                }
            }
        }
    }
}

/// `impl MachineTypes for Order`: the state, context and data types, apart
/// from `StateMachine` so that a machine without `Serialize`/`Deserialize`
/// fails on its `StateMachine` impl alone (once per missing trait), not
/// again at every state marker and gate that names these types.
fn machine_types_impl(machine: &Machine<'_>, names: &Names) -> Item {
    let Names { krate, state, .. } = names;
    let name = machine.ident;
    let context = machine.context();
    let data = machine.data();
    parse_quote! {
        #[automatically_derived]
        impl #krate::MachineTypes for #name {
            type State = #state;
            type Context = #context;
            type Data = #data;
        }
    }
}

/// What a `#[gate]` of this machine may take: `impl GateContext<Shop, ..>
/// for Order` for the declared context, and `impl GateArg<'a, Order, ..>`
/// for `OrderState`, `&OrderState` and, when declared, `&LoanFile`. A gate
/// asking for anything else is an error on its own parameter that says
/// what to declare.
fn gate_args(machine: &Machine<'_>, names: &Names) -> Vec<Item> {
    let Names { krate, state, .. } = names;
    let name = machine.ident;
    let context = machine.context();
    let data = machine.data();
    let mut items: Vec<Item> = vec![
        parse_quote! {
            #[automatically_derived]
            impl #krate::__private::GateContext<#context, #state> for #name {
                fn context(ctx: &#context) -> &#context {
                    ctx
                }
            }
        },
        parse_quote! {
            #[automatically_derived]
            impl<'a> #krate::__private::GateArg<'a, #name, #state> for #state {
                fn pick(state: &'a #state, _data: &'a #data) -> Self {
                    *state
                }
            }
        },
        parse_quote! {
            #[automatically_derived]
            impl<'a> #krate::__private::GateArg<'a, #name, #state> for &'a #state {
                fn pick(state: &'a #state, _data: &'a #data) -> Self {
                    state
                }
            }
        },
    ];
    if let Some(data) = &machine.attr.data {
        items.push(parse_quote! {
            #[automatically_derived]
            impl<'a> #krate::__private::GateArg<'a, #name, #state> for &'a #data {
                fn pick(_state: &'a #state, data: &'a #data) -> Self {
                    data
                }
            }
        });
    }
    items
}

/// `impl ListedGate<Order, OrderState> for within_credit_limit {}` for each
/// gate in `gates(..)`: the fact each `#[gate]` asserts of itself, so a gate
/// written but left out of the list is a compile error, not a policy that
/// silently never runs.
fn listed_gates(machine: &Machine<'_>, names: &Names) -> Vec<Item> {
    let Names { krate, state, .. } = names;
    let name = machine.ident;
    machine
        .attr
        .gates
        .iter()
        .map(|gate| {
            // Spanned on the list entry: rustc shows it as where the trait
            // is implemented when another gate of the machine is unlisted.
            parse_quote_spanned! {gate.span()=>
                #[automatically_derived]
                impl #krate::__private::ListedGate<#name, #state> for #gate {}
            }
        })
        .collect()
}

/// A plain function named in `gates(..)` (its `#[gate]` forgotten) has no
/// companion type, so rustc would only say "expected type, found function".
/// For each gate named by a bare identifier, a private stand-in struct of
/// that name is glob-imported: a `#[gate]`'s companion, defined in the
/// module, shadows it; a plain function leaves it visible, and it is no
/// `MachineGate`, whose message says to add `#[gate]`. (A gate named by a
/// path lives in another module, which a derive cannot add to.)
fn gate_stand_ins(machine: &Machine<'_>) -> Vec<Item> {
    let names: Vec<&Ident> = machine
        .attr
        .gates
        .iter()
        .filter_map(Path::get_ident)
        .collect();
    if names.is_empty() {
        return Vec::new();
    }
    let module = format_ident!("__{}_unmarked_gates", machine.module());
    vec![
        parse_quote! {
            #[doc(hidden)]
            #[allow(dead_code, non_camel_case_types)]
            mod #module {
                #(pub(super) struct #names;)*
            }
        },
        parse_quote! {
            #[allow(unused_imports)]
            use #module::*;
        },
    ]
}

/// One match arm per target state: `(A | B, Self::X { .. }) | (C, Self::Y)
/// => Ok(T)`, so no two arms share a body.
fn table_arms(machine: &Machine<'_>, names: &Names) -> Vec<TokenStream> {
    let state = &names.state;
    let mut targets: Vec<&Ident> = Vec::new();
    for (_, _, to) in machine.edges() {
        if !targets.contains(&to) {
            targets.push(to);
        }
    }
    targets
        .into_iter()
        .map(|target| {
            let cases = machine.variants.iter().filter_map(|variant| {
                let sources: Vec<&Ident> = machine
                    .edges()
                    .filter(|(_, v, to)| v.ident == variant.ident && *to == target)
                    .map(|(from, _, _)| from)
                    .collect();
                if sources.is_empty() {
                    return None;
                }
                let pat = pattern(variant);
                Some(quote!((#(#state::#sources)|*, #pat)))
            });
            quote!(#(#cases)|* => ::core::result::Result::Ok(#state::#target),)
        })
        .collect()
}

/// The arguments of a typed step or constructor: the variant's fields.
struct Args {
    /// `items: u32, total_cents: u64`.
    params: Vec<TokenStream>,
    /// `Order::Placed { items, total_cents }`.
    build: TokenStream,
}

fn args(machine: &Machine<'_>, variant: &Variant<'_>) -> Args {
    let name = machine.ident;
    let v = variant.ident;
    match variant.fields {
        Fields::Unit => Args {
            params: Vec::new(),
            build: quote!(#name::#v),
        },
        Fields::Unnamed(fields) => {
            let idents: Vec<Ident> = (0..fields.unnamed.len())
                .map(|i| format_ident!("field{i}"))
                .collect();
            let types = fields.unnamed.iter().map(|f| &f.ty);
            Args {
                params: idents
                    .iter()
                    .zip(types)
                    .map(|(i, ty)| quote!(#i: #ty))
                    .collect(),
                build: quote!(#name::#v(#(#idents),*)),
            }
        }
        Fields::Named(fields) => {
            let idents: Vec<&Ident> = fields
                .named
                .iter()
                .filter_map(|f| f.ident.as_ref())
                .collect();
            let types = fields.named.iter().map(|f| &f.ty);
            Args {
                params: idents
                    .iter()
                    .zip(types)
                    .map(|(i, ty)| quote!(#i: #ty))
                    .collect(),
                build: quote!(#name::#v { #(#idents),* }),
            }
        }
    }
}

/// `ctx: &Ctx` when the machine declares a context, else nothing (and the
/// runtime gets `&()`).
pub(super) fn ctx_param(machine: &Machine<'_>) -> (Option<TokenStream>, TokenStream) {
    match &machine.attr.context {
        Some(ty) => (Some(quote!(ctx: &#ty,)), quote!(ctx)),
        None => (None, quote!(&())),
    }
}

/// Per source state: a trait with one method per legal step, implemented
/// for `Machine<Order, order::State>`. (A trait because `Machine` is
/// batpak's type: the orphan rule forbids inherent methods on it here. The
/// traits live beside the enum, so they are in scope wherever it is
/// defined; elsewhere import them, e.g. `use shop::OrderDraftTransitions`.)
fn transitions(machine: &Machine<'_>, names: &Names) -> Vec<Item> {
    let Names {
        krate,
        module,
        public_module,
        ..
    } = names;
    let name = machine.ident;
    let vis = machine.vis;
    let (ctx_param, ctx_arg) = ctx_param(machine);
    let mut items = Vec::new();
    for from in machine.states() {
        let steps: Vec<_> = machine.edges().filter(|(f, _, _)| *f == from).collect();
        if steps.is_empty() {
            continue;
        }
        let trait_name = names.steps(machine, from);
        let trait_doc = doc(&format!(
            " The steps one [`{name}`] in state [`{public_module}::{from}`] can take: one method \
             per legal event. Each takes the handle, runs the machine's gates that apply to the \
             event, commits at the handle's version and returns the handle in the target state; \
             a refused step returns this handle inside its `StepError`.\n\n {}",
            match gate_list(machine).as_str() {
                "none" => "This machine has no gates: every legal step commits.".to_owned(),
                list => format!(
                    "Gates of this machine (each runs on the events its `#[gate(..)]` names): \
                     {list}."
                ),
            }
        ));
        let mut decls = Vec::new();
        let mut defs = Vec::new();
        for (_, variant, to) in steps {
            let method = ident(
                &snake_case(&variant.ident.to_string()),
                variant.ident.span(),
            );
            let Args { params, build } = args(machine, variant);
            let v = variant.ident;
            let method_doc = doc(&format!(
                " Records [`{name}::{v}`]: `{from}` → `{to}`.\n\n # Errors\n A `StepError` \
                 holding this handle (`into_handle` gives it back, to correct the event and \
                 retry) and why: `Denied` when a gate refuses, `Conflict` when the stream moved \
                 since this handle was made, or the store's error; nothing is written on error."
            ));
            let signature = quote! {
                fn #method<Db: #krate::MachineStore + ?::core::marker::Sized>(
                    self,
                    store: &Db,
                    #ctx_param
                    #(#params),*
                ) -> ::core::result::Result<
                    #krate::Machine<#name, #module::#to>,
                    #krate::StepError<#name, #module::#from, Db::Error>,
                >
            };
            // clippy's limit is 7 parameters: self, store, ctx and the fields.
            let allow =
                (params.len() + 3 > 7).then(|| quote!(#[allow(clippy::too_many_arguments)]));
            decls.push(quote! {
                #method_doc
                #allow
                #signature;
            });
            defs.push(quote! {
                #allow
                #signature {
                    #krate::__private::step(self, store, #ctx_arg, #build)
                }
            });
        }
        items.push(parse_quote! {
            #trait_doc
            #vis trait #trait_name: ::core::marker::Sized {
                #(#decls)*
            }
        });
        items.push(parse_quote! {
            #[automatically_derived]
            impl #trait_name for #krate::Machine<#name, #module::#from> {
                #(#defs)*
            }
        });
    }
    items
}

/// `enum OrderHandle { Draft(Machine<Order, order::Draft>), .. }`: what
/// `load` returns.
fn handle_enum(machine: &Machine<'_>, names: &Names) -> Vec<Item> {
    let Names {
        krate,
        module,
        state,
        handle,
        ..
    } = names;
    let name = machine.ident;
    let vis = machine.vis;
    let states = machine.states();
    let data = machine.data();
    let enum_doc = doc(&format!(
        " A loaded [`{name}`]: the typed handle of the state its stream is in (see \
         [`{name}::load`]). Match on it to reach that state's steps."
    ));
    let variants = states.iter().map(|s| {
        let text = doc(&format!(" The entity was in state `{s}` when loaded."));
        quote!(#text #s(#krate::Machine<#name, #module::#s>))
    });
    vec![
        parse_quote! {
            #enum_doc
            #[derive(::core::fmt::Debug)]
            #vis enum #handle {
                #(#variants,)*
            }
        },
        parse_quote! {
            #[automatically_derived]
            impl #handle {
                /// The state the entity was in when loaded.
                #[must_use]
                #vis fn state(&self) -> #state {
                    match self {
                        #(Self::#states(handle) => handle.state(),)*
                    }
                }

                /// The stream's version (number of events) when loaded.
                #[must_use]
                #vis fn version(&self) -> u64 {
                    match self {
                        #(Self::#states(handle) => handle.version(),)*
                    }
                }

                /// The entity's coordinate.
                #[must_use]
                #vis fn coordinate(&self) -> &#krate::Coordinate {
                    match self {
                        #(Self::#states(handle) => handle.coordinate(),)*
                    }
                }

                /// The machine's data folded from the stream's events when
                /// loaded (`#[machine(data = ..)]`; `&()` without one).
                #[must_use]
                #vis fn data(&self) -> &#data {
                    match self {
                        #(Self::#states(handle) => handle.data(),)*
                    }
                }
            }
        },
    ]
}

/// `impl Order { create, load, state_of, submit, MERMAID, DOT }`.
fn inherent(machine: &Machine<'_>, names: &Names) -> Item {
    let Names {
        krate,
        module,
        state,
        handle,
        ..
    } = names;
    let name = machine.ident;
    let vis = machine.vis;
    let initial = &machine.attr.initial;
    let states = machine.states();
    let (ctx_param, ctx_arg) = ctx_param(machine);
    let mermaid = diagram::mermaid(machine);
    let dot = diagram::dot(machine);
    let mermaid_doc = doc(&format!(
        " This machine as a Mermaid `stateDiagram-v2`:\n\n ```text\n{}\n ```",
        indent(&mermaid)
    ));
    let dot_doc = doc(&format!(
        " This machine as a Graphviz digraph:\n\n ```text\n{}\n ```",
        indent(&dot)
    ));
    let mermaid = LitStr::new(&mermaid, proc_macro2::Span::call_site());
    let dot = LitStr::new(&dot, proc_macro2::Span::call_site());
    let overview = overview_doc(machine, names);
    parse_quote! {
        #overview
        #[automatically_derived]
        impl #name {
            #mermaid_doc
            #vis const MERMAID: &'static str = #mermaid;

            #dot_doc
            #vis const DOT: &'static str = #dot;

            /// A handle on a new entity in the initial state. Writes nothing:
            /// the entity exists once its first step commits (at version 0,
            /// so a concurrent creator cannot also land).
            ///
            /// # Errors
            /// `AlreadyExists` when the entity has events, or the store's error.
            #vis fn create<Db: #krate::MachineStore + ?::core::marker::Sized>(
                store: &Db,
                coordinate: #krate::Coordinate,
            ) -> ::core::result::Result<
                #krate::Machine<Self, #module::#initial>,
                #krate::MachineError<Db::Error>,
            > {
                #krate::__private::create(store, coordinate)
            }

            /// The typed handle of the entity's current state, with its data,
            /// from the machine's incremental projection (`MachineProjection`,
            /// read through `MachineStore::project_machine`: batpak's `Store`
            /// keeps it in its projection cache and folds only the events
            /// appended since the last call). A stream the machine cannot
            /// apply is replayed to report where.
            ///
            /// # Errors
            /// `NotFound` for an entity without events, `CorruptStream` (with
            /// the sequence and reason) for a stored event the machine cannot
            /// apply (a step the table forbids, a kind that disagrees with its
            /// payload, a gap in sequences, an event appended directly), or
            /// the store's error.
            #vis fn load<Db: #krate::MachineStore + ?::core::marker::Sized>(
                store: &Db,
                coordinate: &#krate::Coordinate,
            ) -> ::core::result::Result<#handle, #krate::MachineError<Db::Error>> {
                let loaded = #krate::__private::load::<Self, Db>(store, coordinate)?;
                ::core::result::Result::Ok(match loaded.state() {
                    #(#state::#states => #handle::#states(loaded.into_handle()?),)*
                })
            }

            /// The entity's current state, from the machine's incremental
            /// projection (`MachineProjection`, read through
            /// `MachineStore::project_machine`): batpak's `Store` keeps it in
            /// its projection cache and folds only the events appended since
            /// the last call. A stream the machine cannot apply is replayed to
            /// report where.
            ///
            /// # Errors
            /// As [`Self::load`].
            #vis fn state_of<Db: #krate::MachineStore + ?::core::marker::Sized>(
                store: &Db,
                coordinate: &#krate::Coordinate,
            ) -> ::core::result::Result<#state, #krate::MachineError<Db::Error>> {
                #krate::__private::state_of::<Self, Db>(store, coordinate)
            }

            /// Applies an event that arrived at run time (e.g. from a queue):
            /// reads the entity's state and data as [`Self::load`] does, checks
            /// the event against the transition table and the gates (with the
            /// same state and data a typed step would give them), then commits
            /// it at the version read. Works on an entity without events (it
            /// starts in the initial state). Returns the new state.
            ///
            /// # Errors
            /// `InvalidTransition`, `Denied`, `Conflict`, `CorruptStream` or
            /// the store's error; nothing is written on error.
            #vis fn submit<Db: #krate::MachineStore + ?::core::marker::Sized>(
                store: &Db,
                #ctx_param
                coordinate: &#krate::Coordinate,
                event: Self,
            ) -> ::core::result::Result<#state, #krate::MachineError<Db::Error>> {
                #krate::__private::submit(store, #ctx_arg, coordinate, event)
            }
        }
    }
}

/// Calling a step a state lacks is an error that names the states having
/// it, not rustc's "perhaps you need to implement it". Per variant, a
/// hidden trait in the state module (`order::ShippedStep<S, Db>`) carries
/// the message and is implemented for the states that have the step; per
/// state lacking steps, a trait `OrderDraftUnavailable` (beside the enum,
/// so in scope with the steps) gives the handle each missing method, bound
/// by that trait for its own state, so a call fails on the bound. Were the
/// bound ever met (by hand), the method still only calls the runtime,
/// which refuses the step. Returns the markers (for the state module) and
/// the items.
fn unavailable_steps(machine: &Machine<'_>, names: &Names) -> (Vec<TokenStream>, Vec<Item>) {
    let Names {
        krate,
        module,
        public_module,
        ..
    } = names;
    let name = machine.ident;
    let vis = machine.vis;
    let inner = inner_visibility(vis);
    let (ctx_param, ctx_arg) = ctx_param(machine);
    let mut markers = Vec::new();
    let mut items = Vec::new();
    for variant in &machine.variants {
        let v = variant.ident;
        let method = snake_case(&v.to_string());
        let marker = format_ident!("{}Step", v);
        let sources: Vec<&Ident> = machine
            .edges()
            .filter(|(_, other, _)| other.ident == v)
            .map(|(from, _, _)| from)
            .collect();
        let listed = match sources.as_slice() {
            [.., last] if sources.len() > 1 => format!(
                "{} or `{last}`",
                sources[..sources.len() - 1]
                    .iter()
                    .map(|s| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ => sources.iter().map(|s| format!("`{s}`")).collect::<String>(),
        };
        let message = LitStr::new(
            &format!("`{name}` in state `{{S}}` has no step `{method}`"),
            v.span(),
        );
        let label = LitStr::new(
            &format!("`{method}` is not a step out of `{{S}}`"),
            v.span(),
        );
        let note = LitStr::new(
            &format!(
                "`{method}` records `{name}::{v}`, a step out of {listed}: take the steps that \
                 lead there first, or `{name}::load` the entity and match on its state"
            ),
            v.span(),
        );
        let marker_doc = doc(&format!(
            " The states whose handles have the step `{method}` (implemented for each)."
        ));
        markers.push(quote! {
            #marker_doc
            #[doc(hidden)]
            #[diagnostic::on_unimplemented(message = #message, label = #label, note = #note)]
            #inner trait #marker<S, Db: ?::core::marker::Sized> {}
        });
        for source in &sources {
            items.push(parse_quote! {
                #[automatically_derived]
                impl<Db: ?::core::marker::Sized> #module::#marker<#module::#source, Db> for #name {}
            });
        }
    }
    for state in machine.states() {
        let missing: Vec<&Variant<'_>> = machine
            .variants
            .iter()
            .filter(|variant| {
                !machine
                    .edges()
                    .any(|(from, other, _)| from == state && other.ident == variant.ident)
            })
            .collect();
        if missing.is_empty() {
            continue;
        }
        let trait_name = format_ident!("{}{}Unavailable", name, state);
        let trait_doc = doc(&format!(
            " The steps an [`{name}`] in state [`{public_module}::{state}`] does not have: \
             calling one is a compile error that names the states which have it."
        ));
        let mut decls = Vec::new();
        let mut defs = Vec::new();
        for variant in missing {
            let v = variant.ident;
            let method = ident(&snake_case(&v.to_string()), v.span());
            let marker = format_ident!("{}Step", v);
            let Some(to) = machine
                .edges()
                .find(|(_, other, _)| other.ident == v)
                .map(|(_, _, to)| to)
            else {
                continue;
            };
            let Args { params, build } = args(machine, variant);
            let allow =
                (params.len() + 3 > 7).then(|| quote!(#[allow(clippy::too_many_arguments)]));
            let signature = quote! {
                fn #method<Db: #krate::MachineStore + ?::core::marker::Sized>(
                    self,
                    store: &Db,
                    #ctx_param
                    #(#params),*
                ) -> ::core::result::Result<
                    #krate::Machine<#name, #module::#to>,
                    #krate::StepError<#name, #module::#state, Db::Error>,
                >
                where
                    #name: #module::#marker<#module::#state, Db>
            };
            let method_doc = doc(&format!(" Not a step out of `{state}`."));
            decls.push(quote! {
                #method_doc
                #allow
                #signature;
            });
            defs.push(quote! {
                #allow
                #signature {
                    #krate::__private::step(self, store, #ctx_arg, #build)
                }
            });
        }
        items.push(parse_quote! {
            #trait_doc
            #[doc(hidden)]
            #vis trait #trait_name: ::core::marker::Sized {
                #(#decls)*
            }
        });
        items.push(parse_quote! {
            #[automatically_derived]
            impl #trait_name for #krate::Machine<#name, #module::#state> {
                #(#defs)*
            }
        });
    }
    (markers, items)
}

/// `Order::PLACED` for a variant `Placed`: its kind's constant.
pub(super) fn kind_const(variant: &Variant<'_>) -> Ident {
    ident(
        &snake_case(&variant.ident.to_string()).to_uppercase(),
        variant.ident.span(),
    )
}

/// `impl Order { pub const PLACED: EventKind = ..; pub const KINDS: .. }`:
/// every kind by name, so code that filters a machine's events (a
/// projection's `kinds()`, a `Region`) never types a number.
fn kinds(machine: &Machine<'_>) -> Item {
    let krate = &machine.krate;
    let name = machine.ident;
    let vis = machine.vis;
    let category = Literal::u16_unsuffixed(machine.category.value);
    let consts = machine.variants.iter().map(|variant| {
        let v = variant.ident;
        let constant = kind_const(variant);
        let code = Literal::u16_unsuffixed(variant.code.value);
        let text = doc(&format!(
            " The kind of [`{name}::{v}`] events (category {}, code {}).",
            machine.category.value, variant.code.value
        ));
        quote! {
            #text
            #vis const #constant: #krate::EventKind = #krate::EventKind::new(#category, #code);
        }
    });
    let all = machine.variants.iter().map(kind_const);
    let kinds_doc = doc(&format!(
        " The kind of every [`{name}`] event, in declaration order: a projection over the \
         machine's events returns it (or some of the constants above) from `kinds()`."
    ));
    parse_quote! {
        #[automatically_derived]
        impl #name {
            #(#consts)*

            #kinds_doc
            #vis const KINDS: &'static [#krate::EventKind] = &[#(Self::#all),*];
        }
    }
}

/// Doc-comment indentation for a multi-line block.
fn indent(text: &str) -> String {
    text.lines()
        .map(|line| format!(" {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}
