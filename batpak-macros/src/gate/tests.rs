//! Expansion snapshots of `#[gate]`, one per form: unfiltered `bool`,
//! filtered `Result`, a gate that reads the state, one that reads the state
//! by value and the data, and an `unlisted` gate (no listing assertion).

use proc_macro2::TokenStream;
use quote::quote;

fn expand(args: TokenStream, item: TokenStream) -> syn::Result<String> {
    let output = super::expand(args, item)?;
    let file: syn::File = syn::parse2(output)?;
    Ok(prettyplease::unparse(&file))
}

#[test]
fn unfiltered_bool_gate() -> syn::Result<()> {
    let item = quote! {
        /// A closed shop takes no orders.
        pub fn shop_is_open(shop: &Shop, _event: &Order) -> bool {
            shop.open
        }
    };
    insta::assert_snapshot!(expand(quote!(), item)?);
    Ok(())
}

#[test]
fn filtered_result_gate() -> syn::Result<()> {
    let item = quote! {
        /// Orders above the credit limit are refused.
        fn within_credit_limit(shop: &Shop, event: &Order) -> Result<(), Denial> {
            Ok(())
        }
    };
    insta::assert_snapshot!(expand(quote!(Order::Placed, Order::Paid), item)?);
    Ok(())
}

#[test]
fn state_reading_gate() -> syn::Result<()> {
    let item = quote! {
        fn calm(_shop: &Shop, state: &OrderState, _event: &Order) -> bool {
            *state != OrderState::Paid
        }
    };
    insta::assert_snapshot!(expand(quote!(), item)?);
    Ok(())
}

#[test]
fn data_reading_gate() -> syn::Result<()> {
    let item = quote! {
        /// An approval stays within the amount requested.
        fn within_request(desk: &Desk, state: LoanState, file: &LoanFile, event: &Loan) -> bool {
            true
        }
    };
    insta::assert_snapshot!(expand(quote!(Loan::Approved), item)?);
    Ok(())
}

#[test]
fn unlisted_gate() -> syn::Result<()> {
    let item = quote! {
        /// Amounts above the desk's authority go to a second reviewer.
        pub fn within_authority(desk: &Desk, event: &Loan) -> bool {
            true
        }
    };
    let output = expand(quote!(Loan::Approved, unlisted), item)?;
    assert!(!output.contains("ListedGate"), "{output}");
    insta::assert_snapshot!(output);
    Ok(())
}

#[test]
fn bad_signature_reports_every_problem_and_keeps_the_function() {
    let item = quote! {
        async fn gate<T>(ctx: Shop, event: &mut Order) -> u8 { 0 }
    };
    let Err(error) = super::expand(quote!(Invoice::Paid), item.clone()) else {
        unreachable!("the signature breaks every rule");
    };
    let messages: Vec<String> = error.clone().into_iter().map(|e| e.to_string()).collect();
    insta::assert_snapshot!(messages.join("\n"));
    // The fallback still emits the function, so calls to it resolve.
    let fallback = super::fallback(item, &error).to_string();
    assert!(fallback.starts_with("async fn gate"));
}
