//! The rules a machine must follow, checked across attributes. Each rule is
//! stated with an example of what it refuses; every broken rule is reported
//! (on the user's tokens) before any code is generated.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use syn::Ident;

use super::ast::Machine;
use crate::util::{Errors, closest, list, snake_case};

/// Runs every rule, recording each violation.
pub(crate) fn check(machine: &Machine<'_>, errors: &mut Errors) {
    generics(machine, errors);
    if declared_states(machine, errors) {
        let all_known = known_states(machine, errors);
        out_of_terminal(machine, errors);
        duplicate_transitions(machine, errors);
        // With a misspelt state or an unreadable transition, states after
        // it would look unreachable: report only the real mistake.
        if all_known && !machine.variants.iter().any(|v| v.unreadable) {
            reachable(machine, errors);
        }
    }
    every_variant_moves(machine, errors);
    gates_listed_once(machine, errors);
    parameter_names(machine, errors);
    generated_names(machine, errors);
    kinds(machine, errors);
    upcasters(machine, errors);
    state_aliases(machine, errors);
}

/// Events are stored and replayed, so the enum must be concrete:
/// `enum Order<T> { .. }` is refused.
fn generics(machine: &Machine<'_>, errors: &mut Errors) {
    let generics = &machine.original.generics;
    if !generics.params.is_empty() || generics.where_clause.is_some() {
        errors.spanned(
            generics,
            "a state machine enum cannot be generic: its events are stored and replayed by one \
             concrete type; remove the parameters (use a concrete type in the variant fields)",
        );
    }
}

/// `#[machine(states(..), initial = ..)]` is required, states are unique
/// and non-empty: `#[machine(initial = Draft)]` alone is refused. Returns
/// whether the state list is usable for the rules that depend on it.
fn declared_states(machine: &Machine<'_>, errors: &mut Errors) -> bool {
    let Some(attr_span) = machine.attr.span else {
        errors.at(
            machine.ident.span(),
            "a state machine needs `#[machine(states(..), initial = ..)]` on the enum, e.g. \
             `#[machine(states(Draft, Placed), initial = Draft)]`",
        );
        return false;
    };
    let Some(states) = &machine.attr.states else {
        errors.at(
            attr_span,
            "missing `states(..)`: list every state of the machine, e.g. \
             `#[machine(states(Draft, Placed, Paid), initial = Draft)]`",
        );
        return false;
    };
    if states.is_empty() {
        errors.at(
            attr_span,
            "`states()` is empty: list every state of the machine",
        );
        return false;
    }
    let mut seen = BTreeSet::new();
    for state in states {
        if !seen.insert(state.to_string()) {
            errors.at(
                state.span(),
                format!("state `{state}` is declared twice in `states(..)`; remove one"),
            );
        }
    }
    if machine.attr.initial.is_none() {
        errors.at(
            attr_span,
            format!(
                "missing `initial = ..`: name the state a new entity starts in, e.g. `initial = {}`",
                states[0]
            ),
        );
    }
    true
}

/// Every state named in `initial`, `terminal` and `#[transition]` is
/// declared: `#[transition(Paid -> Shiped)]` is refused and `Shipped` is
/// suggested. Returns whether every name was known.
fn known_states(machine: &Machine<'_>, errors: &mut Errors) -> bool {
    let names: Vec<String> = machine.states().iter().map(ToString::to_string).collect();
    let mut all_known = true;
    let mut require = |state: &Ident, place: &str| {
        let name = state.to_string();
        if names.contains(&name) {
            return;
        }
        all_known = false;
        let hint = closest(&name, names.iter().map(String::as_str))
            .map(|c| format!("did you mean `{c}`? "))
            .unwrap_or_default();
        errors.at(
            state.span(),
            format!(
                "unknown state `{name}` in {place}; {hint}declared states are {} \
                 (add it to `states(..)` if it is new)",
                list(&names)
            ),
        );
    };
    if let Some(initial) = &machine.attr.initial {
        require(initial, "`initial`");
    }
    for state in &machine.attr.terminal {
        require(state, "`terminal(..)`");
    }
    for variant in &machine.variants {
        for transition in &variant.transitions {
            for from in &transition.from {
                require(from, "transition");
            }
            require(&transition.to, "transition");
        }
    }
    all_known
}

/// A terminal state has no way out: with `terminal(Shipped)`,
/// `#[transition(Shipped -> Returned)]` is refused.
fn out_of_terminal(machine: &Machine<'_>, errors: &mut Errors) {
    let terminal: BTreeSet<String> = machine
        .attr
        .terminal
        .iter()
        .map(ToString::to_string)
        .collect();
    for (from, variant, _) in machine.edges() {
        if terminal.contains(&from.to_string()) {
            errors.at(
                from.span(),
                format!(
                    "`{from}` is a terminal state, so `{}` cannot leave it; remove `{from}` from \
                     this transition or from `terminal(..)`",
                    variant.ident
                ),
            );
        }
    }
}

/// An event has one target per source state: `#[transition(Draft | Draft ->
/// Placed)]`, or two `#[transition]`s leaving `Draft` on one variant, are
/// refused.
fn duplicate_transitions(machine: &Machine<'_>, errors: &mut Errors) {
    for variant in &machine.variants {
        let mut seen = BTreeSet::new();
        for transition in &variant.transitions {
            for from in &transition.from {
                if !seen.insert(from.to_string()) {
                    errors.at(
                        from.span(),
                        format!(
                            "duplicate transition: `{}` already leaves `{from}`; each state has \
                             at most one transition per event, remove this one",
                            variant.ident
                        ),
                    );
                }
            }
        }
        let explicit: Vec<_> = variant
            .transitions
            .iter()
            .filter_map(|t| t.kind.as_ref())
            .collect();
        if let [_, second, ..] = explicit.as_slice() {
            errors.at(
                second.span(),
                format!(
                    "`kind` is given twice for `{}`; write it on one #[transition] only",
                    variant.ident
                ),
            );
        }
    }
}

/// Every state can be reached from the initial state: with
/// `states(Draft, Placed, Refunded)` and no transition into `Refunded`,
/// `Refunded` is refused (a state no entity can be in is a mistake).
fn reachable(machine: &Machine<'_>, errors: &mut Errors) {
    let Some(initial) = &machine.attr.initial else {
        return;
    };
    if !machine.states().contains(initial) {
        // Reported as an unknown state; every state would look unreachable.
        return;
    }
    let mut next: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (from, _, to) in machine.edges() {
        next.entry(from.to_string())
            .or_default()
            .push(to.to_string());
    }
    let mut seen = BTreeSet::from([initial.to_string()]);
    let mut queue = VecDeque::from([initial.to_string()]);
    while let Some(state) = queue.pop_front() {
        for to in next.get(&state).into_iter().flatten() {
            if seen.insert(to.clone()) {
                queue.push_back(to.clone());
            }
        }
    }
    for state in machine.states() {
        if !seen.contains(&state.to_string()) {
            errors.at(
                state.span(),
                format!(
                    "state `{state}` is unreachable from the initial state `{initial}`; add a \
                     transition into it (e.g. `#[transition(<State> -> {state})]` on a variant) \
                     or remove it from `states(..)`"
                ),
            );
        }
    }
}

/// Every variant is an event with at least one transition: a variant
/// without `#[transition(..)]` (or an enum with no variants) is refused.
fn every_variant_moves(machine: &Machine<'_>, errors: &mut Errors) {
    if machine.variants.is_empty() {
        errors.at(
            machine.ident.span(),
            "a state machine needs at least one event: add a variant with \
             `#[transition(From -> To)]`",
        );
    }
    for variant in &machine.variants {
        if variant.transitions.is_empty() && !variant.unreadable {
            errors.at(
                variant.ident.span(),
                format!(
                    "variant `{}` has no transition; add `#[transition(From -> To)]` (it is an \
                     event, so it must move the machine between declared states)",
                    variant.ident
                ),
            );
        }
    }
}

/// A gate runs once per step: `gates(open, open)` is refused (the second
/// would record the same name twice).
fn gates_listed_once(machine: &Machine<'_>, errors: &mut Errors) {
    let mut seen = BTreeSet::new();
    for gate in &machine.attr.gates {
        let name = quote::ToTokens::to_token_stream(gate).to_string();
        if !seen.insert(name.clone()) {
            errors.spanned(
                gate,
                format!("gate `{name}` is listed twice in `gates(..)`; remove one"),
            );
        }
    }
}

/// Typed handle methods take `store` and `ctx` before the variant's fields:
/// a field named `store` or `ctx` is refused (rename it).
fn parameter_names(machine: &Machine<'_>, errors: &mut Errors) {
    for variant in &machine.variants {
        for field in variant.fields {
            if let Some(name) = &field.ident
                && (name == "store" || name == "ctx")
            {
                errors.at(
                    name.span(),
                    format!(
                        "field `{name}` clashes with the `{name}` parameter of the generated \
                         `{}` method; rename the field",
                        snake_case(&variant.ident.to_string())
                    ),
                );
            }
        }
    }
}

/// Each variant gets a step method (`placed`) and a kind constant
/// (`PLACED`) named after it, beside the constants `KINDS`, `MERMAID` and
/// `DOT`, and a hidden marker `PlacedStep` beside the state markers: a
/// variant `Kinds` is refused, as are `HttpCall` and `HTTPCall` together
/// (both would be `http_call`), and a state `PlacedStep` beside a variant
/// `Placed`.
fn generated_names(machine: &Machine<'_>, errors: &mut Errors) {
    let mut seen: BTreeMap<String, &Ident> = BTreeMap::new();
    for variant in &machine.variants {
        let marker = format!("{}Step", variant.ident);
        if let Some(state) = machine.states().iter().find(|s| **s == marker) {
            errors.at(
                state.span(),
                format!(
                    "state `{state}` has the name batpak gives the hidden marker of step \
                     `{}`; rename the state",
                    variant.ident
                ),
            );
        }
        let snake = snake_case(&variant.ident.to_string());
        let constant = snake.to_uppercase();
        if ["KINDS", "MERMAID", "DOT"].contains(&constant.as_str()) {
            errors.at(
                variant.ident.span(),
                format!(
                    "variant `{}` would name its kind `{constant}`, which is the name of the \
                     machine's `{constant}` constant; rename the variant",
                    variant.ident
                ),
            );
        }
        if let Some(first) = seen.insert(snake.clone(), variant.ident) {
            errors.at(
                variant.ident.span(),
                format!(
                    "variants `{first}` and `{}` would both be the step `{snake}` and the kind \
                     `{constant}`; rename one",
                    variant.ident
                ),
            );
        }
    }
}

/// Kinds are stable and unique: `category = 0` (the system's) is refused,
/// and two variants with the same code (derived or explicit) are refused,
/// naming both.
fn kinds(machine: &Machine<'_>, errors: &mut Errors) {
    if let Some(span) = machine.category.explicit
        && machine.category.value == 0
    {
        errors.at(
            span,
            "category 0 is reserved for system records; pick another (or omit `category` to \
             derive one from the machine's name)",
        );
    }
    let mut codes: BTreeMap<u16, &Ident> = BTreeMap::new();
    for variant in &machine.variants {
        if let Some(first) = codes.insert(variant.code.value, variant.ident) {
            codes.insert(variant.code.value, first);
            let span = variant.code.explicit.unwrap_or_else(|| variant.span());
            errors.at(
                span,
                format!(
                    "event code {} of `{}` collides with `{first}`; give one of them an explicit \
                     code with `#[transition(.., kind = N)]`",
                    variant.code.value, variant.ident
                ),
            );
        }
    }
}

/// A variant's upcasters read its stored versions 1, 2, .., n, each
/// exactly once, and the code writes version n + 1: two
/// `#[upcast(from = 1, ..)]` on one variant are refused (which one would
/// run?), as is `from = 2` without `from = 1` (version 1 events would
/// have no reader) and `from = 0` (versions start at 1).
fn upcasters(machine: &Machine<'_>, errors: &mut Errors) {
    // An upcaster reads one variant's stored body, so it sits on that
    // variant: `#[upcast(..)]` on the enum would name no variant.
    for attr in machine
        .original
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("upcast"))
    {
        errors.spanned(
            attr,
            "#[upcast(..)] goes on the variant whose stored events it reads, as in \
             `#[upcast(from = 1, with = approved_v1)]` above `Approved { .. }`",
        );
    }
    for variant in &machine.variants {
        let mut seen: BTreeMap<u8, &syn::Path> = BTreeMap::new();
        for upcast in &variant.upcasts {
            let Ok(from) = upcast.from.base10_parse::<u8>() else {
                errors.at(
                    upcast.from.span(),
                    "an upcaster's `from` is a payload version in 1..=254",
                );
                continue;
            };
            if from == 0 || from == u8::MAX {
                errors.at(
                    upcast.from.span(),
                    "an upcaster's `from` is a payload version in 1..=254 (versions start at 1)",
                );
                continue;
            }
            if let Some(first) = seen.insert(from, &upcast.with) {
                let first = quote::quote!(#first).to_string().replace(' ', "");
                errors.at(
                    upcast.from.span(),
                    format!(
                        "two upcasters read version {from} of `{}` (`{first}` and this one); \
                         keep one: each stored version has exactly one reader",
                        variant.ident
                    ),
                );
            }
        }
        let newest = seen.keys().next_back().copied().unwrap_or(0);
        if let Some(missing) = (1..newest).find(|v| !seen.contains_key(v)) {
            errors.at(
                variant.ident.span(),
                format!(
                    "`{}` has upcasters up to version {newest} but none for version {missing}: \
                     stored version-{missing} events would have no reader; add \
                     `#[upcast(from = {missing}, with = ..)]` reading version {missing} into \
                     version {}",
                    variant.ident,
                    missing + 1
                ),
            );
        }
    }
}

/// `state_aliases(Old = New)` names a declared state as `New`, and an
/// `Old` that is not itself a declared state: `state_aliases(Draft =
/// Shiped)` is refused with the declared states, and so is an alias
/// shadowing a live state (its code would mean two states).
fn state_aliases(machine: &Machine<'_>, errors: &mut Errors) {
    let states = machine.states();
    for (old, new) in &machine.attr.state_aliases {
        if !states.contains(new) {
            errors.at(
                new.span(),
                format!(
                    "unknown state `{new}` in `state_aliases({old} = {new})`; declared states \
                     are {}",
                    list(&states.iter().map(ToString::to_string).collect::<Vec<_>>())
                ),
            );
        }
        if states.contains(old) {
            errors.at(
                old.span(),
                format!(
                    "`{old}` is a declared state, so it cannot also be an alias: its recorded \
                     code already means `{old}`"
                ),
            );
        }
    }
}
