//! Reads `#[gate]` / `#[gate(Order::Placed, Order::Paid)]`: the variants the
//! gate is limited to (none: every transition).

use proc_macro2::TokenStream;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Path, Token};

use crate::util::Errors;

/// The variant paths, each `Machine::Variant`.
pub(crate) fn filter(args: TokenStream, errors: &mut Errors) -> Vec<Path> {
    match Punctuated::<Path, Token![,]>::parse_terminated.parse2(args) {
        Ok(paths) => paths
            .into_iter()
            .filter(|path| {
                let ok = path.segments.len() >= 2;
                if !ok {
                    errors.at(
                        path.span(),
                        "name the variant with its enum, as in `#[gate(Order::Placed)]`",
                    );
                }
                ok
            })
            .collect(),
        Err(error) => {
            errors.push(syn::Error::new(
                error.span(),
                "expected `#[gate]` or `#[gate(Order::Placed, ..)]` (variants the gate is limited to)",
            ));
            Vec::new()
        }
    }
}
