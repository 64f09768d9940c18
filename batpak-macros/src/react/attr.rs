//! Reads `#[react(Order::Paid, Order::Refunded, crate = path)]`: the
//! variants of the source machine the reactor reacts to (none: every
//! event), and the runtime crate's path.

use proc_macro2::TokenStream;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Path, Token, parse_quote};

use crate::util::Errors;

/// What `#[react(..)]` says.
pub(crate) struct ReactAttr {
    /// The variant paths, each `Machine::Variant`.
    pub(crate) filter: Vec<Path>,
    /// Root path of the runtime crate (`::batpak` or `crate = ..`).
    pub(crate) krate: Path,
}

/// One argument.
enum Arg {
    Variant(Path),
    Crate(Path),
}

impl Parse for Arg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(Token![crate]) && input.peek2(Token![=]) {
            input.parse::<Token![crate]>()?;
            input.parse::<Token![=]>()?;
            return Ok(Self::Crate(input.parse()?));
        }
        Ok(Self::Variant(input.parse()?))
    }
}

/// Reads the arguments, reporting any it cannot use.
pub(crate) fn react(args: TokenStream, errors: &mut Errors) -> ReactAttr {
    let mut out = ReactAttr {
        filter: Vec::new(),
        krate: parse_quote!(::batpak),
    };
    match Punctuated::<Arg, Token![,]>::parse_terminated.parse2(args) {
        Ok(args) => {
            for arg in args {
                match arg {
                    Arg::Crate(path) => out.krate = path,
                    Arg::Variant(path) if path.segments.len() >= 2 => out.filter.push(path),
                    Arg::Variant(path) => errors.at(
                        path.span(),
                        "name the variant with its enum, as in `#[react(Order::Paid)]`",
                    ),
                }
            }
        }
        Err(error) => errors.push(syn::Error::new(
            error.span(),
            "expected `#[react]` or `#[react(Order::Paid, ..)]` (the variants the reactor reacts \
             to), optionally with `crate = path`",
        )),
    }
    out
}
