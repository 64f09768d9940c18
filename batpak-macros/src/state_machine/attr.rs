//! Reads `#[machine(..)]` on the enum and `#[transition(..)]` on variants.
//!
//! Parsing only: every key is read into [`MachineAttr`] / [`TransitionAttr`]
//! keeping the user's tokens for spans; rules that relate keys to each other
//! live in `check.rs`. An unknown or repeated key is reported and parsing
//! goes on, so one compile shows every mistake.

use proc_macro2::{Span, TokenStream};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Ident, LitInt, LitStr, Path, Token, Type, parenthesized};

use crate::util::{Errors, closest};

/// Keys accepted in `#[machine(..)]`, for messages and suggestions.
const MACHINE_KEYS: [&str; 11] = [
    "states",
    "initial",
    "terminal",
    "gates",
    "context",
    "data",
    "category",
    "rename",
    "crate",
    "accept_direct_appends",
    "state_aliases",
];

/// Keys accepted in `rename(..)`: the generated items a user may rename.
const RENAME_KEYS: [&str; 3] = ["module", "state", "handle"];

/// What `#[machine(..)]` says, with the user's tokens.
#[derive(Default)]
pub(crate) struct MachineAttr {
    /// Span of the first `#[machine]` attribute (or the enum name).
    pub(crate) span: Option<Span>,
    /// `states(A, B, ..)`; `None` when the key is missing.
    pub(crate) states: Option<Vec<Ident>>,
    /// `initial = A`.
    pub(crate) initial: Option<Ident>,
    /// `terminal(A, ..)`.
    pub(crate) terminal: Vec<Ident>,
    /// `gates(path, ..)`.
    pub(crate) gates: Vec<Path>,
    /// `context = Type`.
    pub(crate) context: Option<Type>,
    /// `data = Type`.
    pub(crate) data: Option<Type>,
    /// `category = N`.
    pub(crate) category: Option<LitInt>,
    /// `crate = path`.
    pub(crate) krate: Option<Path>,
    /// `accept_direct_appends`: the machine's stream may hold events
    /// appended without gates or a bypass.
    pub(crate) accept_direct_appends: bool,
    /// `rename(module = m, state = S, handle = H)`.
    pub(crate) rename: Rename,
    /// `state_aliases(Old = New, ..)`: former state names whose recorded
    /// codes mean a current state.
    pub(crate) state_aliases: Vec<(Ident, Ident)>,
}

/// New names for generated items that would collide with the user's own
/// (`mod order`, `OrderState`, `OrderHandle` by default).
#[derive(Default)]
pub(crate) struct Rename {
    /// The state module.
    pub(crate) module: Option<Ident>,
    /// The runtime state enum.
    pub(crate) state: Option<Ident>,
    /// The loaded-handle enum.
    pub(crate) handle: Option<Ident>,
}

/// One `#[transition(A | B -> C, kind = N, after = "30m")]`.
pub(crate) struct TransitionAttr {
    /// The source states, in order written.
    pub(crate) from: Vec<Ident>,
    /// The target state.
    pub(crate) to: Ident,
    /// `kind = N`.
    pub(crate) kind: Option<LitInt>,
    /// `after = "30m"`: the step is a timer (read in `timers.rs`).
    pub(crate) after: Option<LitStr>,
}

/// Reads every `#[machine(..)]` attribute of the enum.
pub(crate) fn machine(attrs: &[Attribute], errors: &mut Errors) -> MachineAttr {
    let mut out = MachineAttr::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("machine")) {
        out.span.get_or_insert(attr.path().span());
        let result = attr.parse_nested_meta(|meta| {
            let key = meta
                .path
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_default();
            let span = meta.path.span();
            let repeated = |errors: &mut Errors| {
                errors.at(
                    span,
                    format!("`{key}` is given twice in #[machine(..)]; keep one"),
                );
            };
            match key.as_str() {
                "states" | "terminal" => {
                    let content;
                    parenthesized!(content in meta.input);
                    let names: Vec<Ident> =
                        Punctuated::<Ident, Token![,]>::parse_terminated(&content)?
                            .into_iter()
                            .collect();
                    if key == "states" {
                        if out.states.is_some() {
                            repeated(errors);
                        }
                        out.states = Some(names);
                    } else {
                        out.terminal.extend(names);
                    }
                }
                "gates" => {
                    let content;
                    parenthesized!(content in meta.input);
                    out.gates
                        .extend(Punctuated::<Path, Token![,]>::parse_terminated(&content)?);
                }
                "initial" => {
                    let value: Ident = meta.value()?.parse()?;
                    if out.initial.is_some() {
                        repeated(errors);
                    }
                    out.initial = Some(value);
                }
                "context" | "data" => {
                    let value: Type = meta.value()?.parse()?;
                    let slot = if key == "context" {
                        &mut out.context
                    } else {
                        &mut out.data
                    };
                    if slot.is_some() {
                        repeated(errors);
                    }
                    *slot = Some(value);
                }
                "category" => {
                    let value: LitInt = meta.value()?.parse()?;
                    if out.category.is_some() {
                        repeated(errors);
                    }
                    out.category = Some(value);
                }
                "crate" => {
                    let value: Path = meta.value()?.parse()?;
                    out.krate = Some(value);
                }
                "rename" => meta.parse_nested_meta(|inner| {
                    let key = inner
                        .path
                        .get_ident()
                        .map(ToString::to_string)
                        .unwrap_or_default();
                    let slot = match key.as_str() {
                        "module" => &mut out.rename.module,
                        "state" => &mut out.rename.state,
                        "handle" => &mut out.rename.handle,
                        _ => {
                            let hint = closest(&key, RENAME_KEYS)
                                .map(|k| format!("did you mean `{k}`? "))
                                .unwrap_or_default();
                            errors.at(
                                inner.path.span(),
                                format!(
                                    "unknown key `{key}` in `rename(..)`; {hint}expected one of: {}",
                                    RENAME_KEYS.join(", ")
                                ),
                            );
                            skip_value(inner.input)?;
                            return Ok(());
                        }
                    };
                    *slot = Some(inner.value()?.parse()?);
                    Ok(())
                })?,
                "state_aliases" => meta.parse_nested_meta(|inner| {
                    let old: Ident = inner.path.require_ident()?.clone();
                    let new: Ident = inner.value()?.parse()?;
                    out.state_aliases.push((old, new));
                    Ok(())
                })?,
                "accept_direct_appends" => {
                    if !meta.input.is_empty() && !meta.input.peek(Token![,]) {
                        errors.at(
                            span,
                            "`accept_direct_appends` takes no value; write it alone, as in \
                             `#[machine(.., accept_direct_appends)]`",
                        );
                        skip_value(meta.input)?;
                    }
                    if out.accept_direct_appends {
                        repeated(errors);
                    }
                    out.accept_direct_appends = true;
                }
                _ => {
                    let hint = closest(&key, MACHINE_KEYS)
                        .map(|k| format!("did you mean `{k}`? "))
                        .unwrap_or_default();
                    errors.at(
                        span,
                        format!(
                            "unknown key `{key}` in #[machine(..)]; {hint}expected one of: {}",
                            MACHINE_KEYS.join(", ")
                        ),
                    );
                    skip_value(meta.input)?;
                }
            }
            Ok(())
        });
        if let Err(error) = result {
            errors.push(error);
        }
    }
    out
}

/// Consumes `= value` or `(..)` after an unknown key so parsing can go on.
pub(crate) fn skip_value(input: ParseStream<'_>) -> syn::Result<()> {
    if input.peek(Token![=]) {
        input.parse::<Token![=]>()?;
        input.parse::<syn::Expr>()?;
    } else if input.peek(syn::token::Paren) {
        let content;
        parenthesized!(content in input);
        content.parse::<TokenStream>()?;
    }
    Ok(())
}

/// Reads every `#[transition(..)]` of one variant; the flag says whether
/// one of them could not be read (already reported).
pub(crate) fn transitions(attrs: &[Attribute], errors: &mut Errors) -> (Vec<TransitionAttr>, bool) {
    let mut broken = false;
    let parsed = attrs
        .iter()
        .filter(|a| a.path().is_ident("transition"))
        .filter_map(|attr| match attr.parse_args::<TransitionAttr>() {
            Ok(parsed) => Some(parsed),
            Err(error) => {
                errors.push(error);
                broken = true;
                None
            }
        })
        .collect();
    (parsed, broken)
}

impl Parse for TransitionAttr {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let from = Punctuated::<Ident, Token![|]>::parse_separated_nonempty(input)?
            .into_iter()
            .collect();
        input.parse::<Token![->]>().map_err(|error| {
            syn::Error::new(
                error.span(),
                "expected `->` between source and target states, as in `#[transition(Draft -> Placed)]`",
            )
        })?;
        let to: Ident = input.parse()?;
        let (mut kind, mut after) = (None, None);
        while input.peek(Token![,]) {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let key: Ident = input.parse()?;
            if key == "kind" {
                input.parse::<Token![=]>()?;
                kind = Some(input.parse::<LitInt>()?);
            } else if key == "after" {
                input.parse::<Token![=]>()?;
                after = Some(input.parse::<LitStr>().map_err(|error| {
                    syn::Error::new(
                        error.span(),
                        "`after` takes a delay in quotes, as in `after = \"30m\"`",
                    )
                })?);
            } else {
                return Err(syn::Error::new(
                    key.span(),
                    format!(
                        "unknown key `{key}` in #[transition(..)]; the keys are `kind = N` (an \
                         explicit event code) and `after = \"30m\"` (a timer)"
                    ),
                ));
            }
        }
        Ok(Self {
            from,
            to,
            kind,
            after,
        })
    }
}

/// One `#[upcast(from = N, with = function)]` on a variant: stored events
/// of this variant at payload version `N` are read through `function`.
pub(crate) struct UpcastAttr {
    /// The version the function reads.
    pub(crate) from: LitInt,
    /// The function: `fn(Old) -> New`, where `New` is the next version's
    /// old type, or the machine's enum for the last one.
    pub(crate) with: Path,
}

/// Reads every `#[upcast(..)]` of one variant.
pub(crate) fn upcasts(attrs: &[Attribute], errors: &mut Errors) -> Vec<UpcastAttr> {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("upcast"))
        .filter_map(|attr| match attr.parse_args::<UpcastAttr>() {
            Ok(parsed) => Some(parsed),
            Err(error) => {
                errors.push(error);
                None
            }
        })
        .collect()
}

impl Parse for UpcastAttr {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut from = None;
        let mut with = None;
        while !input.is_empty() {
            let key: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            match key.to_string().as_str() {
                "from" => from = Some(input.parse::<LitInt>()?),
                "with" => with = Some(input.parse::<Path>()?),
                _ => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!(
                            "unknown key `{key}` in #[upcast(..)]; write \
                             `#[upcast(from = N, with = function)]`"
                        ),
                    ));
                }
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        let missing = |what: &str| {
            syn::Error::new(
                input.span(),
                format!(
                    "#[upcast(..)] needs `{what}`: write `#[upcast(from = N, with = function)]`, \
                     where `function` reads the variant's payload as stored at version N"
                ),
            )
        };
        Ok(Self {
            from: from.ok_or_else(|| missing("from = N"))?,
            with: with.ok_or_else(|| missing("with = function"))?,
        })
    }
}
