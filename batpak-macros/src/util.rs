//! Small helpers shared by both macros: error collection, naming, spelling
//! suggestions. Nothing here looks at user input beyond strings and spans.

use proc_macro2::Span;
use syn::Ident;

/// Collects errors so every mistake is reported in one compile, each on its
/// own span (as serde's `Ctxt`).
#[derive(Default)]
pub(crate) struct Errors {
    first: Option<syn::Error>,
}

impl Errors {
    /// Records an error spanned on `tokens`.
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.first {
            Some(first) => first.combine(error),
            None => self.first = Some(error),
        }
    }

    /// Records an error at `span` with `message`.
    pub(crate) fn at(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    /// Records an error covering all of `tokens` (first to last token, also
    /// on stable where spans cannot be joined).
    pub(crate) fn spanned(
        &mut self,
        tokens: impl quote::ToTokens,
        message: impl std::fmt::Display,
    ) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// Refuses `sig`'s return type (or, when it has none, its closing
    /// parenthesis) with `message`: how `#[gate]` and `#[react]` say what a
    /// function of theirs must return.
    pub(crate) fn wrong_return(&mut self, sig: &syn::Signature, message: &str) {
        match &sig.output {
            syn::ReturnType::Type(_, ty) => self.spanned(ty, message),
            syn::ReturnType::Default => self.at(sig.paren_token.span.close(), message),
        }
    }

    /// Refuses each variant path of `filter` (`Machine::Variant`) that names
    /// another enum than `ty`, the function's event type; `message` gets the
    /// event type's name. `#[gate(..)]` and `#[react(..)]` filters name
    /// variants of their event's enum.
    pub(crate) fn filter_of_another_enum(
        &mut self,
        ty: Option<&syn::Type>,
        filter: &[syn::Path],
        message: impl Fn(&str) -> String,
    ) {
        let Some(syn::Type::Path(event)) = ty else {
            return;
        };
        let Some(event_name) = event.path.segments.last().map(|s| s.ident.to_string()) else {
            return;
        };
        for path in filter {
            let segments: Vec<_> = path.segments.iter().collect();
            if let [.., machine, _] = segments.as_slice()
                && machine.ident != event_name
            {
                self.at(machine.ident.span(), message(&event_name));
            }
        }
    }

    /// `Ok` when nothing was recorded, else every error combined.
    pub(crate) fn finish(self) -> syn::Result<()> {
        self.first.map_or(Ok(()), Err)
    }
}

/// `OrderFlow` → `order_flow`; `HTTPRequest` → `http_request`.
pub(crate) fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev = i.checked_sub(1).map(|p| chars[p]);
            let next = chars.get(i + 1);
            let boundary = prev.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit())
                || (prev.is_some_and(char::is_uppercase) && next.is_some_and(|n| n.is_lowercase()));
            if boundary && !out.ends_with('_') {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// An identifier for `name`, raw when `name` is a keyword (`r#type`), with a
/// trailing `_` for the few keywords that cannot be raw (`self_`).
pub(crate) fn ident(name: &str, span: Span) -> Ident {
    if syn::parse_str::<Ident>(name).is_ok() {
        return Ident::new(name, span);
    }
    match name {
        "self" | "super" | "crate" | "_" => Ident::new(&format!("{name}_"), span),
        _ => Ident::new_raw(name, span),
    }
}

/// The candidate closest to `wrong` by edit distance, if close enough to be
/// a plausible typo (at most a third of the word).
pub(crate) fn closest<'a>(
    wrong: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = wrong.chars().count().max(3) / 3 + 1;
    candidates
        .into_iter()
        .map(|c| (distance(&wrong.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let here = row[j + 1];
            row[j + 1] = if ca == cb {
                prev
            } else {
                1 + prev.min(here).min(row[j])
            };
            prev = here;
        }
    }
    row[b.len()]
}

/// `tokens` with every span (inside groups too) set to `span`, so an error
/// rustc reports anywhere in them points at `span`.
pub(crate) fn respan(tokens: proc_macro2::TokenStream, span: Span) -> proc_macro2::TokenStream {
    use proc_macro2::{Group, TokenTree};
    tokens
        .into_iter()
        .map(|tree| match tree {
            TokenTree::Group(group) => {
                let mut new = Group::new(group.delimiter(), respan(group.stream(), span));
                new.set_span(span);
                TokenTree::Group(new)
            }
            mut other => {
                other.set_span(span);
                other
            }
        })
        .collect()
}

/// "a, b, c", for messages.
pub(crate) fn list(names: &[String]) -> String {
    names.join(", ")
}

/// The text of `#[doc = ".."]` attributes, lines trimmed and joined.
pub(crate) fn doc_text(attrs: &[syn::Attribute]) -> String {
    let mut lines = Vec::new();
    for attr in attrs {
        if !attr.path().is_ident("doc") {
            continue;
        }
        if let syn::Meta::NameValue(nv) = &attr.meta
            && let syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(text),
                ..
            }) = &nv.value
        {
            lines.push(text.value().trim().to_owned());
        }
    }
    lines.join("\n").trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_splits_words_and_acronyms() {
        assert_eq!(snake_case("Order"), "order");
        assert_eq!(snake_case("OrderFlow"), "order_flow");
        assert_eq!(snake_case("HTTPRequest"), "http_request");
        assert_eq!(snake_case("Step2Done"), "step2_done");
    }

    #[test]
    fn closest_suggests_typos_only() {
        let states = ["Draft", "Placed", "Paid", "Shipped"];
        assert_eq!(closest("Shiped", states), Some("Shipped"));
        assert_eq!(closest("Refunded", states), None);
    }

    #[test]
    fn keywords_become_raw_identifiers() {
        assert_eq!(ident("type", Span::call_site()).to_string(), "r#type");
        assert_eq!(ident("self", Span::call_site()).to_string(), "self_");
        assert_eq!(ident("placed", Span::call_site()).to_string(), "placed");
    }
}
