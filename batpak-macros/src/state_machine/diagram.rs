//! The machine as a diagram: Mermaid `stateDiagram-v2` and Graphviz DOT
//! text, rendered from the checked model.
//!
//! Pure string rendering (no tokens): `expand.rs` embeds the results as the
//! `MERMAID` and `DOT` constants and in their doc comments. Both renderings
//! show the same graph (start, every edge labelled by its event, terminal
//! states, the gates) so a reader can pick either tool. Rendering must never
//! fail: it only runs on a machine that passed `check.rs`.

use super::ast::Machine;

/// The last segment of each gate path.
fn gate_names(machine: &Machine<'_>) -> Vec<String> {
    machine
        .attr
        .gates
        .iter()
        .filter_map(|path| path.segments.last().map(|s| s.ident.to_string()))
        .collect()
}

/// Mermaid `stateDiagram-v2`: start, every edge labelled by its event,
/// terminal states to the end, gates as a note on the initial state.
pub(crate) fn mermaid(machine: &Machine<'_>) -> String {
    let mut out = String::from("stateDiagram-v2\n");
    if let Some(initial) = &machine.attr.initial {
        out.push_str(&format!("    [*] --> {initial}\n"));
    }
    for (from, variant, to) in machine.edges() {
        out.push_str(&format!("    {from} --> {to} : {}\n", variant.ident));
    }
    for terminal in &machine.attr.terminal {
        out.push_str(&format!("    {terminal} --> [*]\n"));
    }
    let gates = gate_names(machine);
    if let (Some(initial), false) = (&machine.attr.initial, gates.is_empty()) {
        out.push_str(&format!(
            "    note right of {initial} : gates {}\n",
            gates.join(", ")
        ));
    }
    out.trim_end().to_owned()
}

/// Graphviz: the same graph as [`mermaid`].
pub(crate) fn dot(machine: &Machine<'_>) -> String {
    let name = machine.ident;
    let mut out = format!("digraph {name} {{\n    rankdir=LR;\n    \"[*]\" [shape=point];\n");
    if let Some(initial) = &machine.attr.initial {
        out.push_str(&format!("    \"[*]\" -> \"{initial}\";\n"));
    }
    for (from, variant, to) in machine.edges() {
        out.push_str(&format!(
            "    \"{from}\" -> \"{to}\" [label=\"{}\"];\n",
            variant.ident
        ));
    }
    for terminal in &machine.attr.terminal {
        out.push_str(&format!("    \"{terminal}\" [shape=doublecircle];\n"));
    }
    let gates = gate_names(machine);
    if !gates.is_empty() {
        out.push_str(&format!(
            "    \"gates\" [shape=note, label=\"gates: {}\"];\n",
            gates.join(", ")
        ));
    }
    out.push('}');
    out
}
