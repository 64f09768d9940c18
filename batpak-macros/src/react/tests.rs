//! Expansion snapshots of `#[react]`, one per form: filtered with a
//! borrowed context, and unfiltered with a context by value.

use proc_macro2::TokenStream;
use quote::quote;

fn expand(args: TokenStream, item: TokenStream) -> syn::Result<String> {
    let output = super::expand(args, item)?;
    let file: syn::File = syn::parse2(output)?;
    Ok(prettyplease::unparse(&file))
}

#[test]
fn filtered_reactor() -> syn::Result<()> {
    let item = quote! {
        /// Every paid order is shipped, once.
        pub fn ship(warehouse: &Warehouse, paid: &StoredEvent<Order>) -> Reaction<Shipment> {
            Reaction::Nothing
        }
    };
    insta::assert_snapshot!(expand(quote!(Order::Paid), item)?);
    Ok(())
}

#[test]
fn unfiltered_reactor_with_copied_context() -> syn::Result<()> {
    let item = quote! {
        fn audit(_ctx: (), event: &batpak::StoredEvent<Order>) -> batpak::Reaction<Ledger> {
            Reaction::Nothing
        }
    };
    insta::assert_snapshot!(expand(quote!(), item)?);
    Ok(())
}

#[test]
fn bad_signature_reports_every_problem() {
    let item = quote! {
        async fn ship<T>(warehouse: &mut Warehouse, paid: &Order) -> u8 { 0 }
    };
    let error = super::expand(quote!(Invoice::Paid), item).err();
    let messages: Vec<String> = error
        .into_iter()
        .flat_map(|e| e.into_iter().map(|e| e.to_string()))
        .collect();
    insta::assert_snapshot!(messages.join("\n"));
}
