//! The machine's schema as data: builds the `StateMachine::SCHEMA` constant
//! (`batpak::MachineSchema`) from the model, and the stable codes and
//! fingerprint in it.
//!
//! What it records must mean the same to every later version of the
//! derive: state codes and the fingerprint are blake3 of fixed prefixes and
//! names, never of declaration order. Field facts come from the tokens as
//! written (`#[serde(rename)]`, `#[serde(default)]`, `Option<..>`); it must
//! never guess at what serde does beyond those.

use proc_macro2::{Literal, TokenStream};
use quote::{ToTokens, quote};
use syn::{Attribute, Field, Fields, LitStr, Type};

use super::ast::{Machine, Variant};
use super::attr::skip_value;

/// The stable code of state `name`: blake3 of the name folded into
/// 1..=65535 (0 means "no state recorded"). `batpak::state_code` computes
/// the same value at run time.
pub(crate) fn state_code(name: &str) -> u16 {
    let hash = blake3::hash(format!("batpak/state/{name}").as_bytes());
    let raw = u16::from_le_bytes([hash.as_bytes()[0], hash.as_bytes()[1]]);
    raw % u16::MAX + 1
}

/// One field as the schema records it.
struct FieldFacts {
    name: String,
    ty: String,
    defaulted: bool,
}

/// `MachineSchema { .. }`, the value of `StateMachine::SCHEMA`.
pub(crate) fn schema(machine: &Machine<'_>) -> TokenStream {
    let krate = &machine.krate;
    let name = machine.ident.to_string();
    let category = Literal::u16_unsuffixed(machine.category.value);
    let category_pinned = machine.category.explicit.is_some();
    let variants = machine.variants.iter().map(|variant| {
        let v = variant.ident.to_string();
        let code = Literal::u16_unsuffixed(variant.code.value);
        let pinned = variant.code.explicit.is_some();
        let version = Literal::u8_unsuffixed(variant.version());
        let fields = fields(variant).into_iter().map(|f| {
            let FieldFacts {
                name,
                ty,
                defaulted,
            } = f;
            quote!(#krate::FieldSchema { name: #name, ty: #ty, defaulted: #defaulted })
        });
        quote! {
            #krate::VariantSchema {
                name: #v,
                code: #code,
                code_pinned: #pinned,
                version: #version,
                fields: &[#(#fields),*],
            }
        }
    });
    let states = machine.states().iter().map(|state| {
        let s = state.to_string();
        let code = Literal::u16_unsuffixed(state_code(&s));
        let aliases = machine.aliases_of(state).map(|alias| alias.to_string());
        quote!(#krate::StateSchema { name: #s, code: #code, aliases: &[#(#aliases),*] })
    });
    let transitions = machine.edges().map(|(from, variant, to)| {
        let (from, event, to) = (from.to_string(), variant.ident.to_string(), to.to_string());
        quote!(#krate::TransitionSchema { from: #from, event: #event, to: #to })
    });
    let initial = machine
        .attr
        .initial
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    let data = match &machine.attr.data {
        Some(ty) => {
            let text = type_text(ty);
            quote!(::core::option::Option::Some(#text))
        }
        None => quote!(::core::option::Option::None),
    };
    let fingerprint = Literal::u32_unsuffixed(fingerprint(machine));
    quote! {
        #krate::MachineSchema {
            name: #name,
            category: #category,
            category_pinned: #category_pinned,
            variants: &[#(#variants),*],
            states: &[#(#states),*],
            initial: #initial,
            transitions: &[#(#transitions),*],
            data: #data,
            fingerprint: #fingerprint,
        }
    }
}

/// A fingerprint of what a cached fold of the machine depends on: its
/// name and category, each variant's code and version, the states and
/// their aliases, the initial state, the table and the data type.
fn fingerprint(machine: &Machine<'_>) -> u32 {
    let mut hasher = blake3::Hasher::new();
    let mut text = |s: &str| {
        hasher.update(&(s.len() as u64).to_le_bytes());
        hasher.update(s.as_bytes());
    };
    text("batpak.schema.fingerprint.v1");
    text(&machine.ident.to_string());
    text(&machine.category.value.to_string());
    for variant in &machine.variants {
        text(&variant.ident.to_string());
        text(&format!("{}:{}", variant.code.value, variant.version()));
    }
    for state in machine.states() {
        text(&state.to_string());
        for alias in machine.aliases_of(state) {
            text(&alias.to_string());
        }
    }
    text(
        &machine
            .attr
            .initial
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
    );
    for (from, variant, to) in machine.edges() {
        text(&from.to_string());
        text(&variant.ident.to_string());
        text(&to.to_string());
    }
    text(
        &machine
            .attr
            .data
            .as_ref()
            .map_or_else(|| "()".to_owned(), type_text),
    );
    let hash = hasher.finalize();
    let b = hash.as_bytes();
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// The fields of `variant` as stored: named fields under their serde name,
/// tuple fields as `0`, `1`, ...
fn fields(variant: &Variant<'_>) -> Vec<FieldFacts> {
    match variant.fields {
        Fields::Unit => Vec::new(),
        Fields::Named(named) => named.named.iter().map(|f| facts(f, None)).collect(),
        Fields::Unnamed(unnamed) => unnamed
            .unnamed
            .iter()
            .enumerate()
            .map(|(i, f)| facts(f, Some(i)))
            .collect(),
    }
}

fn facts(field: &Field, index: Option<usize>) -> FieldFacts {
    let serde = SerdeField::read(&field.attrs);
    let name = serde.rename.unwrap_or_else(|| match (&field.ident, index) {
        (Some(ident), _) => ident.to_string(),
        (None, i) => i.unwrap_or_default().to_string(),
    });
    FieldFacts {
        name,
        ty: type_text(&field.ty),
        defaulted: serde.default || is_option(&field.ty),
    }
}

/// A type as written, without the spaces `quote` puts between tokens.
pub(crate) fn type_text(ty: &Type) -> String {
    ty.to_token_stream().to_string().replace(' ', "")
}

/// `Option<T>` (or a path ending in it): serde decodes a missing one as
/// `None`.
fn is_option(ty: &Type) -> bool {
    matches!(ty, Type::Path(path) if path.path.segments.last().is_some_and(|s| s.ident == "Option"))
}

/// What `#[serde(..)]` on a field says about how it is stored.
#[derive(Default)]
struct SerdeField {
    rename: Option<String>,
    default: bool,
}

impl SerdeField {
    /// Reads `rename = ".."` (or `rename(deserialize = "..")`) and
    /// `default` / `default = ".."`; every other key is skipped (serde
    /// itself reports mistakes in them).
    fn read(attrs: &[Attribute]) -> Self {
        let mut out = Self::default();
        for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
            let _ignored = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("default") {
                    out.default = true;
                    skip_value(meta.input)
                } else if meta.path.is_ident("rename") {
                    if meta.input.peek(syn::Token![=]) {
                        out.rename = Some(meta.value()?.parse::<LitStr>()?.value());
                        Ok(())
                    } else {
                        meta.parse_nested_meta(|inner| {
                            let value = inner.value()?.parse::<LitStr>()?.value();
                            if inner.path.is_ident("deserialize") {
                                out.rename = Some(value);
                            }
                            Ok(())
                        })
                    }
                } else {
                    skip_value(meta.input)
                }
            });
        }
        out
    }
}
