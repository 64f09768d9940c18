//! Reads `#[gate]` / `#[gate(Order::Placed, Order::Paid, unlisted, crate =
//! path)]`: the variants the gate is limited to (none: every transition),
//! whether it is meant to stay out of its machine's `gates(..)`, and the
//! runtime crate's path.

use proc_macro2::TokenStream;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Path, Token, parse_quote};

use crate::util::{Errors, closest};

/// The one bare word `#[gate(..)]` accepts: the machine need not list the
/// gate.
const UNLISTED: &str = "unlisted";

/// What `#[gate(..)]` says.
pub(crate) struct GateAttr {
    /// The variant paths, each `Machine::Variant`.
    pub(crate) filter: Vec<Path>,
    /// `unlisted`: the machine need not list the gate (it is used
    /// elsewhere), so no listing assertion is generated.
    pub(crate) unlisted: bool,
    /// Root path of the runtime crate (`::batpak` or `crate = ..`).
    pub(crate) krate: Path,
}

/// One argument.
enum Arg {
    Variant(Path),
    Unlisted,
    Crate(Path),
}

impl Parse for Arg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(Token![crate]) && input.peek2(Token![=]) {
            input.parse::<Token![crate]>()?;
            input.parse::<Token![=]>()?;
            return Ok(Self::Crate(input.parse()?));
        }
        let path: Path = input.parse()?;
        Ok(if path.is_ident(UNLISTED) {
            Self::Unlisted
        } else {
            Self::Variant(path)
        })
    }
}

/// Reads the arguments, reporting any it cannot use.
pub(crate) fn gate(args: TokenStream, errors: &mut Errors) -> GateAttr {
    let mut out = GateAttr {
        filter: Vec::new(),
        unlisted: false,
        krate: parse_quote!(::batpak),
    };
    match Punctuated::<Arg, Token![,]>::parse_terminated.parse2(args) {
        Ok(args) => {
            for arg in args {
                match arg {
                    Arg::Crate(path) => out.krate = path,
                    Arg::Unlisted => out.unlisted = true,
                    Arg::Variant(path) if path.segments.len() >= 2 => out.filter.push(path),
                    Arg::Variant(path) => errors.at(path.span(), bare_word(&path)),
                }
            }
        }
        Err(error) => errors.push(syn::Error::new(
            error.span(),
            "expected `#[gate]` or `#[gate(Order::Placed, ..)]` (variants the gate is limited \
             to), optionally with `unlisted` or `crate = path`",
        )),
    }
    out
}

/// The message for a one-word argument: a misspelt `unlisted`, or a
/// variant written without its enum.
fn bare_word(path: &Path) -> String {
    let word = quote::ToTokens::to_token_stream(path).to_string();
    if closest(&word, [UNLISTED]).is_some() {
        format!("unknown argument `{word}`; did you mean `{UNLISTED}`?")
    } else {
        format!(
            "name the variant with its enum, as in `#[gate(Order::Placed)]` (the only bare word \
             is `{UNLISTED}`, for a gate its machine does not list)"
        )
    }
}
