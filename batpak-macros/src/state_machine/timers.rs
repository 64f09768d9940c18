//! Timed transitions: `#[transition(Placed -> Expired, after = "30m")]`.
//!
//! Reads the delay ([`delay`]), states the rules a timer follows
//! ([`check`]) and generates the machine's `TIMERS` table ([`table`]),
//! kept apart from the rest of the derive because only machines with a
//! timer need any of it: a machine without one generates nothing here.

use proc_macro2::{Literal, TokenStream};
use quote::quote;
use syn::{Fields, LitStr};

use super::ast::{Machine, Variant};
use super::expand::kind_const;
use crate::util::Errors;

/// The units a delay may use, longest suffix first so `ms` is not read as
/// `m` followed by garbage, with their length in milliseconds.
const UNITS: [(&str, u64); 5] = [
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

/// How to write a delay, for messages.
const FORMAT: &str = "write whole numbers with a unit (ms, s, m, h, d), as in `after = \"30m\"`, \
    `\"1h30m\"` or `\"500ms\"`";

/// The delay of `after = ".."` in milliseconds, or why it cannot be read.
fn delay(text: &str) -> Result<u64, String> {
    let mut rest = text;
    let mut total: u64 = 0;
    if rest.is_empty() {
        return Err(format!("the delay is empty; {FORMAT}"));
    }
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(format!("`{text}` is not a delay; {FORMAT}"));
        }
        let (number, after) = rest.split_at(digits);
        let Some((unit, scale)) = UNITS.iter().find(|(unit, _)| after.starts_with(unit)) else {
            return Err(format!("`{text}` is not a delay; {FORMAT}"));
        };
        let part = number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(*scale))
            .and_then(|ms| total.checked_add(ms));
        total = part.ok_or_else(|| format!("`{text}` is too long a delay"))?;
        rest = &after[unit.len()..];
    }
    if total == 0 {
        return Err(format!(
            "a timer waits some time: `{text}` is no time at all; {FORMAT}"
        ));
    }
    Ok(total)
}

/// A timer's rules:
/// - its delay reads as a time (`after = "30 minutes"` and `after = "0s"`
///   are refused, on the literal);
/// - its variant is a unit variant, since the timer makes the event by
///   itself (`#[transition(Placed -> Expired, after = "30m")] Expired {
///   reason: String }` is refused, on the fields).
pub(crate) fn check(machine: &Machine<'_>, errors: &mut Errors) {
    for variant in &machine.variants {
        for after in variant.transitions.iter().filter_map(|t| t.after.as_ref()) {
            if let Err(message) = delay(&after.value()) {
                errors.at(after.span(), message);
            }
            if !matches!(variant.fields, Fields::Unit) {
                errors.spanned(
                    variant.fields,
                    format!(
                        "`{}` is a timed transition (`after = ..`): the timer records it by \
                         itself, so it cannot carry fields; make it a unit variant",
                        variant.ident
                    ),
                );
            }
        }
    }
}

/// `const TIMERS: &'static [Timer<Self>] = &[..];` inside the
/// `StateMachine` impl, or nothing for a machine without a timer (the
/// trait's default, empty, applies).
pub(crate) fn table(machine: &Machine<'_>, state: &syn::Ident) -> Option<TokenStream> {
    let krate = &machine.krate;
    let timers: Vec<TokenStream> = machine
        .variants
        .iter()
        .flat_map(|variant| {
            variant
                .transitions
                .iter()
                .filter_map(move |t| Some((variant, &t.from, t.after.as_ref()?)))
        })
        .map(
            |(variant, from, after): (&Variant<'_>, &Vec<syn::Ident>, &LitStr)| {
                let name = LitStr::new(&variant.ident.to_string(), variant.ident.span());
                let ident = variant.ident;
                let entered_by = entered_by(machine, from);
                let millis = delay(&after.value()).unwrap_or_default();
                // Whole seconds read as written (`"30m"` is `from_secs(1800)`).
                let duration = if millis.is_multiple_of(1_000) {
                    let secs = Literal::u64_unsuffixed(millis / 1_000);
                    quote!(::core::time::Duration::from_secs(#secs))
                } else {
                    let millis = Literal::u64_unsuffixed(millis);
                    quote!(::core::time::Duration::from_millis(#millis))
                };
                quote! {
                    #krate::Timer::new(
                        #name,
                        &[#(#state::#from),*],
                        #duration,
                        || Self::#ident,
                        &[#(Self::#entered_by),*],
                    )
                }
            },
        )
        .collect();
    (!timers.is_empty()).then(|| {
        quote! {
            const TIMERS: &'static [#krate::Timer<Self>] = &[#(#timers),*];
        }
    })
}

/// The kind constants of the variants that always lead into one of
/// `from` (every transition of theirs targets a state there): the last
/// event of an entity waiting on the timer has one of these kinds, which is
/// how a tool that cannot run the table finds its timers.
fn entered_by(machine: &Machine<'_>, from: &[syn::Ident]) -> Vec<syn::Ident> {
    machine
        .variants
        .iter()
        .filter(|variant| {
            !variant.transitions.is_empty()
                && variant.transitions.iter().all(|t| from.contains(&t.to))
        })
        .map(kind_const)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::delay;

    #[test]
    fn delays_read_every_unit_and_sums() {
        assert_eq!(delay("30m"), Ok(1_800_000));
        assert_eq!(delay("1h30m"), Ok(5_400_000));
        assert_eq!(delay("500ms"), Ok(500));
        assert_eq!(delay("2d"), Ok(172_800_000));
        assert_eq!(delay("1s"), Ok(1_000));
    }

    #[test]
    fn malformed_delays_are_refused() {
        for bad in [
            "",
            "30",
            "m",
            "30 m",
            "30min",
            "1.5h",
            "-1s",
            "0s",
            "99999999999999999d",
        ] {
            assert!(delay(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
