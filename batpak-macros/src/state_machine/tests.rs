//! Expansion snapshots: the prettyplease-formatted output of the derive for
//! a small and a full machine, and the diagrams, pinned with insta. A change
//! to generated code shows up here as a reviewable diff.

use proc_macro2::TokenStream;
use quote::quote;

/// The derive's output for `input`, formatted as a reader of `cargo expand`
/// would see it.
fn expand(input: TokenStream) -> syn::Result<String> {
    let input: syn::DeriveInput = syn::parse2(input)?;
    let output = super::expand(&input)?;
    let file: syn::File = syn::parse2(output)?;
    Ok(prettyplease::unparse(&file))
}

fn small() -> TokenStream {
    quote! {
        #[derive(StateMachine, Serialize, Deserialize)]
        #[machine(states(Draft, Placed, Done), initial = Draft, terminal(Done))]
        pub enum Order {
            #[transition(Draft -> Placed)]
            Placed { items: u32 },
            #[transition(Placed -> Done)]
            Done,
        }
    }
}

fn full() -> TokenStream {
    quote! {
        /// What can happen to an order.
        #[derive(StateMachine, Debug, Clone, Serialize, Deserialize)]
        #[machine(
            states(Draft, Placed, Paid, Shipped, Cancelled),
            initial = Draft,
            terminal(Shipped, Cancelled),
            gates(within_credit_limit, policy::shop_is_open),
            context = Shop,
            data = Bill,
            category = 7,
            crate = ::batpak,
            accept_direct_appends,
        )]
        pub enum Order {
            #[transition(Draft -> Placed)]
            Placed { items: u32, total_cents: u64 },
            #[transition(Placed -> Paid)]
            Paid(u64),
            #[transition(Paid -> Shipped)]
            Shipped { carrier: String },
            #[transition(Draft | Placed | Paid -> Cancelled, kind = 9)]
            Cancelled,
        }
    }
}

#[test]
fn small_machine_expansion() -> syn::Result<()> {
    insta::assert_snapshot!(expand(small())?);
    Ok(())
}

#[test]
fn full_machine_expansion() -> syn::Result<()> {
    insta::assert_snapshot!(expand(full())?);
    Ok(())
}

#[test]
fn full_machine_diagrams() -> syn::Result<()> {
    let input: syn::DeriveInput = syn::parse2(full())?;
    let mut errors = crate::util::Errors::default();
    let machine = super::ast::Machine::from_syn(&input, &mut errors)
        .ok_or_else(|| syn::Error::new(proc_macro2::Span::call_site(), "not a machine"))?;
    errors.finish()?;
    insta::assert_snapshot!("mermaid", super::diagram::mermaid(&machine));
    insta::assert_snapshot!("dot", super::diagram::dot(&machine));
    Ok(())
}

#[test]
fn derived_kinds_depend_only_on_names() {
    // Stable kinds: the same name always gives the same number, whatever
    // else the machine holds; the category is never the system's 0.
    assert_eq!(
        super::ast::derived_code("Placed"),
        super::ast::derived_code("Placed")
    );
    assert_ne!(
        super::ast::derived_code("Placed"),
        super::ast::derived_code("Paid")
    );
    assert_ne!(super::ast::derived_category("Order"), 0);
}

#[test]
fn every_error_is_reported_at_once() {
    let input = quote! {
        #[machine(states(Draft, Placed), initial = Draf, colour = red)]
        enum Order {
            #[transition(Draft -> Placd)]
            Placed,
        }
    };
    let Err(error) = expand(input) else {
        unreachable!("the input breaks three rules");
    };
    let messages: Vec<String> = error.into_iter().map(|e| e.to_string()).collect();
    insta::assert_snapshot!(messages.join("\n"));
}

#[test]
fn derived_code_collision_names_both_variants() {
    // Find two variant names whose derived codes collide (a birthday search
    // over 16 bits finds one within a few hundred names), then check the
    // derive refuses them, naming both and the fix.
    let mut seen = std::collections::HashMap::new();
    let (first, second) = (0..5_000)
        .map(|i| format!("Event{i}"))
        .find_map(|name| {
            let code = super::ast::derived_code(&name);
            seen.insert(code, name.clone()).map(|other| (other, name))
        })
        .unwrap_or_default();
    assert!(!first.is_empty(), "no collision among 5000 names");
    let a = syn::Ident::new(&first, proc_macro2::Span::call_site());
    let b = syn::Ident::new(&second, proc_macro2::Span::call_site());
    let input = quote! {
        #[machine(states(S0, S1, S2), initial = S0)]
        enum Colliding {
            #[transition(S0 -> S1)]
            #a,
            #[transition(S1 -> S2)]
            #b,
        }
    };
    let Err(error) = expand(input) else {
        unreachable!("`{first}` and `{second}` share a code");
    };
    let message = error.to_string();
    assert!(
        message.contains(&format!("of `{second}` collides with `{first}`")),
        "{message}"
    );
    assert!(message.contains("kind = N"), "{message}");
}

/// A timed transition adds one item to the derive's output, the `TIMERS`
/// table in `impl StateMachine`: that impl is pinned alone.
#[test]
fn timed_transition_adds_the_timer_table() -> syn::Result<()> {
    let input: syn::DeriveInput = syn::parse2(quote! {
        #[derive(StateMachine, Serialize, Deserialize)]
        #[machine(states(Draft, Placed, Paid, Expired), initial = Draft, terminal(Paid, Expired))]
        pub enum Order {
            #[transition(Draft -> Placed)]
            Placed { items: u32 },
            #[transition(Placed -> Paid)]
            Paid,
            #[transition(Draft | Placed -> Expired, after = "1h30m")]
            Expired,
        }
    })?;
    let file: syn::File = syn::parse2(super::expand(&input)?)?;
    let items = file.items.into_iter().filter(|item| {
        matches!(item, syn::Item::Impl(imp)
        if imp.trait_.as_ref().is_some_and(|(_, path, _)| {
            path.segments.last().is_some_and(|s| s.ident == "StateMachine")
        }))
    });
    let only = syn::File {
        shebang: None,
        attrs: Vec::new(),
        items: items.collect(),
    };
    insta::assert_snapshot!(prettyplease::unparse(&only));
    Ok(())
}

fn evolved() -> TokenStream {
    quote! {
        #[derive(StateMachine, Serialize)]
        #[machine(
            states(Draft, InReview, Approved),
            initial = Draft,
            state_aliases(UnderReview = InReview),
        )]
        #[serde(deny_unknown_fields)]
        pub enum Loan {
            #[transition(Draft -> InReview)]
            Reviewed {
                #[serde(rename = "who")]
                officer: String,
            },
            #[transition(InReview -> Approved)]
            #[upcast(from = 1, with = approved_v1)]
            #[upcast(from = 2, with = approved_v2)]
            Approved { amount_cents: u64, #[serde(default)] rate_bp: u32 },
        }
    }
}

/// What an upcasting machine adds: the current-version copy and the
/// version-aware `Deserialize` (the rest is as for any machine).
#[test]
fn upcasting_machine_expansion() -> syn::Result<()> {
    let input: syn::DeriveInput = syn::parse2(evolved())?;
    let mut errors = crate::util::Errors::default();
    let machine = super::ast::Machine::from_syn(&input, &mut errors)
        .ok_or_else(|| syn::Error::new(proc_macro2::Span::call_site(), "not a machine"))?;
    super::check::check(&machine, &mut errors);
    errors.finish()?;
    let items = super::upcast::items(&machine);
    let file: syn::File = syn::parse_quote!(#(#items)*);
    insta::assert_snapshot!(prettyplease::unparse(&file));
    let schema: syn::Expr = syn::parse2(super::schema::schema(&machine))?;
    let schema: syn::File = syn::parse_quote!(const SCHEMA: ::batpak::MachineSchema = #schema;);
    insta::assert_snapshot!("evolved_schema", prettyplease::unparse(&schema));
    Ok(())
}
