//! Code generation for a machine with `#[upcast(from = N, with = f)]`: its
//! `Deserialize`, which reads each stored event at the payload version its
//! header records.
//!
//! The user derives only `Serialize`; the derive emits a private copy of
//! the enum carrying just its serde attributes (`#[serde(remote = ..)]`,
//! which reads the current version exactly as `#[derive(Deserialize)]`
//! would) and a `Deserialize` impl that asks the decoder which kind and
//! version it is reading (`take_stored_payload`) and, for an older version,
//! reads the stored body as the first upcaster's input and chains the
//! upcasters to the current variant. A version newer than the code knows is
//! refused, never guessed at. Nothing here runs when no variant has an
//! upcaster: such a machine derives `Deserialize` itself.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Attribute, Fields, Item, LitStr, Path, parse_quote};

use super::ast::{Machine, Variant};

/// The private current-version copy and the `Deserialize` impl, or nothing
/// when no variant has an upcaster.
pub(crate) fn items(machine: &Machine<'_>) -> Vec<Item> {
    if machine.variants.iter().all(|v| v.upcasts.is_empty()) {
        return Vec::new();
    }
    vec![current_copy(machine), deserialize_impl(machine)]
}

/// `__LoanCurrent`: the enum with only its serde attributes, deriving
/// `Deserialize` as the remote definition of the enum, so the current
/// version decodes exactly as a derived `Deserialize` would.
fn current_copy(machine: &Machine<'_>) -> Item {
    let name = machine.ident;
    let copy = format_ident!("__{}Current", name);
    let krate = &machine.krate;
    let serde_path = serde_path(krate);
    let remote = LitStr::new(&name.to_string(), name.span());
    let attrs = serde_attrs(&machine.original.attrs);
    let variants = machine.variants.iter().map(|variant| {
        let v = variant.ident;
        let attrs = serde_attrs(&variant.original.attrs);
        let fields = match variant.fields {
            Fields::Unit => quote!(),
            Fields::Unnamed(fields) => {
                let fields = fields.unnamed.iter().map(|f| {
                    let attrs = serde_attrs(&f.attrs);
                    let ty = &f.ty;
                    quote!(#(#attrs)* #ty)
                });
                quote!((#(#fields),*))
            }
            Fields::Named(fields) => {
                let fields = fields.named.iter().map(|f| {
                    let attrs = serde_attrs(&f.attrs);
                    let (ident, ty) = (&f.ident, &f.ty);
                    quote!(#(#attrs)* #ident: #ty)
                });
                quote!({ #(#fields),* })
            }
        };
        quote!(#(#attrs)* #v #fields)
    });
    parse_quote! {
        /// The current version of each event, as `#[derive(Deserialize)]`
        /// would read it: what the version-aware `Deserialize` falls back to.
        #[doc(hidden)]
        #[allow(dead_code, non_camel_case_types)]
        #[derive(#krate::__private::serde::Deserialize)]
        #[serde(crate = #serde_path, remote = #remote)]
        #(#attrs)*
        enum #copy {
            #(#variants,)*
        }
    }
}

/// `impl Deserialize for Loan`: per stored kind and version, the upcaster
/// chain to the current variant, the current decoding, or a refusal.
fn deserialize_impl(machine: &Machine<'_>) -> Item {
    let name = machine.ident;
    let krate = &machine.krate;
    let copy = format_ident!("__{}Current", name);
    let arms = machine
        .variants
        .iter()
        .map(|variant| kind_arm(machine, variant));
    parse_quote! {
        #[automatically_derived]
        impl<'de> #krate::__private::serde::Deserialize<'de> for #name {
            fn deserialize<D>(deserializer: D) -> ::core::result::Result<Self, D::Error>
            where
                D: #krate::__private::serde::Deserializer<'de>,
            {
                let category = <Self as #krate::StateMachine>::CATEGORY;
                let ::core::option::Option::Some(stored) =
                    #krate::__private::take_stored_payload(category)
                else {
                    return #copy::deserialize(deserializer);
                };
                let newer = |known: u8| {
                    #krate::__private::refuse_newer_payload(known);
                    <D::Error as #krate::__private::serde::de::Error>::custom(::core::format_args!(
                        "payload version {} of kind {} is newer than {known}, the newest known",
                        stored.version, stored.kind,
                    ))
                };
                match stored.kind {
                    #(#arms)*
                    _ => #copy::deserialize(deserializer),
                }
            }
        }
    }
}

/// The arm for one variant's kind: `Self::APPROVED => match version { 1 =>
/// upcast_from(d, |v1| approved_v2(approved_v1(v1))), .., 3 => current, _
/// => newer }`.
fn kind_arm(machine: &Machine<'_>, variant: &Variant<'_>) -> TokenStream {
    let krate = &machine.krate;
    let copy = format_ident!("__{}Current", machine.ident);
    let constant = super::expand::kind_const(variant);
    let current = Literal::u8_unsuffixed(variant.version());
    let mut chain: Vec<(u8, &Path)> = variant
        .upcasts
        .iter()
        .filter_map(|u| Some((u.from.base10_parse::<u8>().ok()?, &u.with)))
        .collect();
    chain.sort_by_key(|(from, _)| *from);
    let older = chain.iter().enumerate().map(|(i, (from, _))| {
        // Version `from` runs its own upcaster and every later one.
        let calls = chain[i..]
            .iter()
            .fold(quote!(old), |inner, (_, with)| quote!(#with(#inner)));
        let from = Literal::u8_unsuffixed(*from);
        // Spanned on the last upcaster, so a chain that does not end in the
        // machine's enum is reported on the function that should.
        let last = chain
            .last()
            .map_or_else(proc_macro2::Span::call_site, |(_, w)| w.span());
        let upcaster = quote_spanned!(last=> |old| -> Self { #calls });
        quote! {
            #from => #krate::__private::upcast_from(deserializer, #upcaster),
        }
    });
    quote! {
        Self::#constant => match stored.version {
            #(#older)*
            #current => #copy::deserialize(deserializer),
            _ => ::core::result::Result::Err(newer(#current)),
        },
    }
}

/// The attributes serde reads (and `cfg`), dropping batpak's and docs.
fn serde_attrs(attrs: &[Attribute]) -> Vec<&Attribute> {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("serde") || a.path().is_ident("cfg"))
        .collect()
}

/// `"::batpak::__private::serde"` as serde's `crate = ".."` wants it.
fn serde_path(krate: &Path) -> LitStr {
    LitStr::new(
        &quote!(#krate::__private::serde)
            .to_string()
            .replace(' ', ""),
        proc_macro2::Span::call_site(),
    )
}
