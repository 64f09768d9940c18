//! Our model of one machine: the enum, its declared states, its variants and
//! their transitions, its gates, and the resolved event kinds.
//!
//! Borrows the syn nodes (`original`) so every later error points at the
//! user's own tokens. Building the model never fails on a rule: it records
//! what it could not read in `Errors` and leaves judging to `check.rs`.

use proc_macro2::Span;
use quote::format_ident;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Ident, Path, Type, Visibility, parse_quote};

use super::attr::{self, MachineAttr, TransitionAttr, UpcastAttr};
use crate::util::{Errors, ident, snake_case};

/// One `#[derive(StateMachine)]` enum.
pub(crate) struct Machine<'a> {
    /// The whole input, for spans.
    pub(crate) original: &'a DeriveInput,
    /// The enum's name (`Order`).
    pub(crate) ident: &'a Ident,
    /// The enum's visibility, given to every generated item.
    pub(crate) vis: &'a Visibility,
    /// What `#[machine(..)]` said.
    pub(crate) attr: MachineAttr,
    /// The variants, in declaration order.
    pub(crate) variants: Vec<Variant<'a>>,
    /// Root path of the runtime crate (`::batpak` or `crate = ..`).
    pub(crate) krate: Path,
    /// The category every kind of this machine shares.
    pub(crate) category: Kind,
}

/// One event variant.
pub(crate) struct Variant<'a> {
    /// The syn variant, for spans.
    pub(crate) original: &'a syn::Variant,
    /// Its name (`Placed`).
    pub(crate) ident: &'a Ident,
    /// Its fields.
    pub(crate) fields: &'a Fields,
    /// Its `#[transition(..)]` attributes.
    pub(crate) transitions: Vec<TransitionAttr>,
    /// Whether a `#[transition(..)]` could not be read (already reported).
    pub(crate) unreadable: bool,
    /// Its event code within the machine's category.
    pub(crate) code: Kind,
    /// Its `#[upcast(..)]` attributes, in the order written.
    pub(crate) upcasts: Vec<UpcastAttr>,
}

/// A category or code: explicit (`= N`) or derived from a name by blake3.
#[derive(Clone, Copy)]
pub(crate) struct Kind {
    /// The number.
    pub(crate) value: u16,
    /// Where it was written, if explicit.
    pub(crate) explicit: Option<Span>,
}

impl<'a> Machine<'a> {
    /// Reads the enum into the model. `None` when the input is not an enum
    /// (the error is recorded).
    pub(crate) fn from_syn(input: &'a DeriveInput, errors: &mut Errors) -> Option<Self> {
        let Data::Enum(data) = &input.data else {
            let keyword = match &input.data {
                Data::Struct(s) => s.struct_token.span,
                Data::Union(u) => u.union_token.span,
                Data::Enum(e) => e.enum_token.span,
            };
            errors.at(
                keyword,
                "#[derive(StateMachine)] works on an enum whose variants are the machine's events; \
                 write `enum` and give each variant a #[transition(From -> To)]",
            );
            return None;
        };
        let attr = attr::machine(&input.attrs, errors);
        let krate = attr.krate.clone().unwrap_or_else(|| parse_quote!(::batpak));
        let category = Kind::read(
            attr.category.as_ref(),
            errors,
            derived_category(&input.ident.to_string()),
        );
        let variants = data
            .variants
            .iter()
            .map(|variant| Variant::from_syn(variant, errors))
            .collect();
        Some(Self {
            original: input,
            ident: &input.ident,
            vis: &input.vis,
            attr,
            variants,
            krate,
            category,
        })
    }

    /// Declared states (empty when `states(..)` is missing).
    pub(crate) fn states(&self) -> &[Ident] {
        self.attr.states.as_deref().unwrap_or_default()
    }

    /// The state module: the machine's name in `snake_case` (`order`), or
    /// `rename(module = ..)`.
    pub(crate) fn module(&self) -> Ident {
        self.attr
            .rename
            .module
            .clone()
            .unwrap_or_else(|| ident(&snake_case(&self.ident.to_string()), self.ident.span()))
    }

    /// The runtime state enum: `OrderState`, or `rename(state = ..)`.
    pub(crate) fn state_enum(&self) -> Ident {
        self.attr
            .rename
            .state
            .clone()
            .unwrap_or_else(|| format_ident!("{}State", self.ident))
    }

    /// The loaded-handle enum: `OrderHandle`, or `rename(handle = ..)`.
    pub(crate) fn handle_enum(&self) -> Ident {
        self.attr
            .rename
            .handle
            .clone()
            .unwrap_or_else(|| format_ident!("{}Handle", self.ident))
    }

    /// The gates' context type (`()` when none is declared).
    pub(crate) fn context(&self) -> Type {
        self.attr
            .context
            .clone()
            .unwrap_or_else(|| parse_quote!(()))
    }

    /// The data type (`()` when none is declared).
    pub(crate) fn data(&self) -> Type {
        self.attr.data.clone().unwrap_or_else(|| parse_quote!(()))
    }

    /// The former names `state_aliases(..)` gives `state`.
    pub(crate) fn aliases_of<'s>(&'s self, state: &'s Ident) -> impl Iterator<Item = &'s Ident> {
        self.attr
            .state_aliases
            .iter()
            .filter(move |(_, new)| new == state)
            .map(|(old, _)| old)
    }

    /// Every `(source, variant, target)` edge, in declaration order.
    pub(crate) fn edges(&self) -> impl Iterator<Item = (&Ident, &Variant<'a>, &Ident)> {
        self.variants.iter().flat_map(|variant| {
            variant.transitions.iter().flat_map(move |transition| {
                transition
                    .from
                    .iter()
                    .map(move |from| (from, variant, &transition.to))
            })
        })
    }
}

impl<'a> Variant<'a> {
    fn from_syn(original: &'a syn::Variant, errors: &mut Errors) -> Self {
        let (transitions, unreadable) = attr::transitions(&original.attrs, errors);
        let explicit = transitions.iter().find_map(|t| t.kind.as_ref());
        let code = Kind::read(explicit, errors, derived_code(&original.ident.to_string()));
        let upcasts = attr::upcasts(&original.attrs, errors);
        Self {
            original,
            ident: &original.ident,
            fields: &original.fields,
            transitions,
            unreadable,
            code,
            upcasts,
        }
    }
}

impl Kind {
    /// An explicit literal if given (reporting one that is not a `u16`),
    /// else the derived value.
    fn read(literal: Option<&syn::LitInt>, errors: &mut Errors, derived: u16) -> Self {
        let Some(literal) = literal else {
            return Self {
                value: derived,
                explicit: None,
            };
        };
        let value = literal.base10_parse::<u16>().unwrap_or_else(|_| {
            errors.at(
                literal.span(),
                "an event category or code is a number in 0..=65535",
            );
            derived
        });
        Self {
            value,
            explicit: Some(literal.span()),
        }
    }
}

/// The default category of machine `name`: blake3 of the name folded into
/// 1..=65535 (0 is the system's), so it never depends on anything but the
/// name.
pub(crate) fn derived_category(name: &str) -> u16 {
    let hash = blake3::hash(format!("batpak/category/{name}").as_bytes());
    let raw = u16::from_le_bytes([hash.as_bytes()[0], hash.as_bytes()[1]]);
    raw % u16::MAX + 1
}

/// The default code of variant `name`: blake3 of the name, so reordering or
/// adding variants never changes it.
pub(crate) fn derived_code(name: &str) -> u16 {
    let hash = blake3::hash(format!("batpak/kind/{name}").as_bytes());
    u16::from_le_bytes([hash.as_bytes()[0], hash.as_bytes()[1]])
}

impl Variant<'_> {
    /// The payload version this code writes: one more than the highest
    /// `#[upcast(from = N)]`, or 1 without upcasters.
    pub(crate) fn version(&self) -> u8 {
        self.upcasts
            .iter()
            .filter_map(|u| u.from.base10_parse::<u8>().ok())
            .max()
            .map_or(1, |from| from.saturating_add(1))
    }

    /// Span of the variant's first `#[transition]` (or its name).
    pub(crate) fn span(&self) -> Span {
        self.original
            .attrs
            .iter()
            .find(|a| a.path().is_ident("transition"))
            .map_or_else(|| self.ident.span(), Spanned::span)
    }
}
