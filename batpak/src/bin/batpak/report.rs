//! `batpak report`: one self-contained HTML page about a store: the verify
//! result, each recorded machine's state diagram as inline SVG with its
//! entity count per state, the most recent events, and every bypass.
//!
//! Self-contained means: no network, no external file, no script; the page
//! is the same text whether opened from disk or mailed. Everything from the
//! store is HTML-escaped ([`esc`]) before it reaches the page.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use batpak::{Admission, CatalogEntry, Region, Store, StoredEvent};

use crate::catalog::{Catalog, counts};
use crate::explain::{utc, variant};
use crate::failure::{EXIT_OK, Failure};
use crate::render::Dynamic;

/// How many of the latest events the page lists: enough to see what the
/// system did lately, few enough that the page stays small on a big store.
const RECENT: u64 = 50;

/// Width of a state's box in the diagram, and the gap between boxes.
const BOX_W: u64 = 150;
const BOX_GAP: u64 = 70;
const BOX_H: u64 = 56;
/// Room above and below the boxes for arcs and their labels.
const MARGIN_Y: u64 = 110;

/// Writes the page for `store` (opened from `dir`) to `out`.
pub(crate) fn report(store: &Store, dir: &Path, out: &mut dyn Write) -> Result<u8, Failure> {
    let catalog = Catalog::read(store)?;
    let stats = store.stats();
    let verify = store.verify()?;
    let mut page = String::new();
    let title = format!("batpak report: {}", dir.display());
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        esc(&title),
        esc(&title)
    );
    let _ = writeln!(
        page,
        "<p class=\"summary\">{} events, {} streams, {} segments, {} log bytes</p>",
        stats.events, stats.streams, stats.segments, stats.log_bytes
    );
    page.push_str("<section id=\"verify\">\n<h2>Verify</h2>\n");
    match &verify.damage {
        None => {
            let _ = writeln!(
                page,
                "<p class=\"ok\">ok: {} events, {} streams, every frame, position and hash chain checked</p>",
                verify.events, verify.streams
            );
        }
        Some(d) => {
            let _ = writeln!(
                page,
                "<p class=\"damage\">damage: {}: {}</p>",
                esc(&d.at.to_string()),
                esc(&d.reason)
            );
        }
    }
    page.push_str("</section>\n<section id=\"machines\">\n<h2>Machines</h2>\n");
    let machines = catalog.machines();
    if machines.is_empty() {
        page.push_str("<p>No machine has written to this store (its catalog is empty).</p>\n");
    }
    for machine in machines {
        let entities = Catalog::entities(store, machine)?;
        let counts = counts(machine, &entities);
        machine_section(machine, &counts, &mut page);
    }
    page.push_str("</section>\n");
    recent(store, &catalog, stats.events, &mut page)?;
    bypasses(store, &catalog, &mut page)?;
    page.push_str("</body>\n</html>\n");
    out.write_all(page.as_bytes())?;
    Ok(EXIT_OK)
}

/// The machine's heading, diagram and count table.
fn machine_section(machine: &CatalogEntry, counts: &[(String, u64)], page: &mut String) {
    let id = format!("machine-{}", machine.name);
    let _ = writeln!(page, "<div class=\"machine\" id=\"{}\">", esc(&id));
    let _ = writeln!(
        page,
        "<h3>{}</h3>\n<p>category {}, gates: {}</p>",
        esc(&machine.name),
        machine.category,
        if machine.gates.is_empty() {
            "none".to_owned()
        } else {
            esc(&machine.gates.join(", "))
        }
    );
    diagram_svg(machine, counts, page);
    page.push_str("<table class=\"counts\"><tr><th>state</th><th>entities</th></tr>\n");
    for (state, n) in counts {
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td class=\"n\" data-state=\"{}\">{n}</td></tr>",
            esc(state),
            esc(state)
        );
    }
    page.push_str("</table>\n</div>\n");
}

/// The state diagram: states left to right in declaration order, each box
/// with its entity count; forward edges arc above, backward edges below,
/// self-edges loop over their box.
fn diagram_svg(machine: &CatalogEntry, counts: &[(String, u64)], page: &mut String) {
    let index = |state: &str| machine.states.iter().position(|s| s == state);
    let n = machine.states.len() as u64;
    let width = 40 + n * (BOX_W + BOX_GAP);
    // Room below the boxes only when some edge goes back (arcs below).
    let goes_back = machine
        .transitions
        .iter()
        .any(|(from, _, to)| index(to) < index(from));
    let height = MARGIN_Y + BOX_H + if goes_back { MARGIN_Y } else { 20 };
    let _ = writeln!(
        page,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"diagram\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"state diagram of {}\">",
        esc(&machine.name)
    );
    page.push_str(
        "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" \
         markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#345\"/></marker></defs>\n",
    );
    let center = |i: u64| 20 + i * (BOX_W + BOX_GAP) + BOX_W / 2;
    let top = MARGIN_Y;
    let bottom = MARGIN_Y + BOX_H;
    for (k, (from, event, to)) in machine.transitions.iter().enumerate() {
        let (Some(a), Some(b)) = (index(from), index(to)) else {
            continue;
        };
        let (a, b) = (a as u64, b as u64);
        let lift = 20 + 12 * (k as u64 % 4);
        let (path, label_x, label_y) = if a == b {
            let x = center(a);
            (
                format!(
                    "M{},{top} C{},{} {},{} {},{top}",
                    x - 20,
                    x - 40,
                    top - 50,
                    x + 40,
                    top - 50,
                    x + 20
                ),
                x,
                top - 42,
            )
        } else if a < b {
            let (x1, x2) = (center(a) + 10, center(b) - 10);
            let rise = lift + 14 * (b - a);
            let mid = (x1 + x2) / 2;
            (
                format!(
                    "M{x1},{top} Q{mid},{} {x2},{top}",
                    top.saturating_sub(rise * 2)
                ),
                mid,
                top.saturating_sub(rise) - 4,
            )
        } else {
            let (x1, x2) = (center(a) - 10, center(b) + 10);
            let drop = lift + 14 * (a - b);
            let mid = (x1 + x2) / 2;
            (
                format!("M{x1},{bottom} Q{mid},{} {x2},{bottom}", bottom + drop * 2),
                mid,
                bottom + drop + 14,
            )
        };
        let _ = writeln!(
            page,
            "<path class=\"edge\" d=\"{path}\" marker-end=\"url(#arrow)\"/>\
             <text class=\"label\" x=\"{label_x}\" y=\"{label_y}\">{}</text>",
            esc(event)
        );
    }
    for (i, state) in machine.states.iter().enumerate() {
        let i = i as u64;
        let x = 20 + i * (BOX_W + BOX_GAP);
        let count = counts
            .iter()
            .find(|(s, _)| s == state)
            .map_or(0, |(_, n)| *n);
        let mut class = String::from("state");
        if count > 0 {
            class.push_str(" occupied");
        }
        if *state == machine.initial {
            class.push_str(" initial");
        }
        let terminal = machine.terminal.contains(state);
        let _ = writeln!(
            page,
            "<g class=\"{class}\" data-state=\"{}\"><rect x=\"{x}\" y=\"{top}\" width=\"{BOX_W}\" height=\"{BOX_H}\" rx=\"10\"/>",
            esc(state)
        );
        if terminal {
            let _ = writeln!(
                page,
                "<rect class=\"inner\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"7\"/>",
                x + 4,
                top + 4,
                BOX_W - 8,
                BOX_H - 8
            );
        }
        let cx = x + BOX_W / 2;
        let _ = writeln!(
            page,
            "<text class=\"name\" x=\"{cx}\" y=\"{}\">{}</text>\
             <text class=\"count\" x=\"{cx}\" y=\"{}\">{count} {}</text></g>",
            top + 23,
            esc(state),
            top + 43,
            if count == 1 { "entity" } else { "entities" }
        );
    }
    page.push_str("</svg>\n");
}

/// The latest events, newest first.
fn recent(store: &Store, catalog: &Catalog, events: u64, page: &mut String) -> Result<(), Failure> {
    let from = events.saturating_sub(RECENT);
    let mut latest = store.query::<Dynamic>(&Region::all().from_position(from))?;
    latest.reverse();
    page.push_str("<section id=\"recent\">\n<h2>Recent events</h2>\n");
    event_table(catalog, &latest, page);
    page.push_str("</section>\n");
    Ok(())
}

/// Every event committed through a bypass, oldest first.
fn bypasses(store: &Store, catalog: &Catalog, page: &mut String) -> Result<(), Failure> {
    let bypassed = store.query::<Dynamic>(&Region::all().bypassed())?;
    let _ = writeln!(
        page,
        "<section id=\"bypasses\">\n<h2>Bypasses ({})</h2>",
        bypassed.len()
    );
    if bypassed.is_empty() {
        page.push_str("<p>No event was committed through a bypass.</p>\n");
    } else {
        event_table(catalog, &bypassed, page);
    }
    page.push_str("</section>\n");
    Ok(())
}

/// A table of events: position, time, entity, event, admission.
fn event_table(catalog: &Catalog, events: &[StoredEvent<Dynamic>], page: &mut String) {
    page.push_str(
        "<table class=\"events\"><tr><th>position</th><th>time (UTC)</th><th>entity</th>\
         <th>event</th><th>admitted</th></tr>\n",
    );
    for event in events {
        let h = &event.header;
        let name = catalog
            .kind_name(h.kind)
            .unwrap_or_else(|| format!("kind {}", h.kind));
        let admitted = match &h.admission {
            Admission::Gated { gates, .. } if gates.is_empty() => {
                "gated (no gate applies to this event)".to_owned()
            }
            Admission::Gated { gates, .. } => format!("gates: {}", gates.join(", ")),
            Admission::Bypassed { by, reason, .. } => format!("bypass by {by}: {reason}"),
            Admission::Direct => "direct".to_owned(),
            _ => "unknown".to_owned(),
        };
        let class = if h.admission.is_bypass() {
            " class=\"bypass\""
        } else {
            ""
        };
        let _ = writeln!(
            page,
            "<tr{class}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            h.position,
            esc(&utc(h.timestamp_us)),
            esc(&h.coordinate.to_string()),
            esc(&variant(&name, &event.payload)),
            esc(&admitted)
        );
    }
    page.push_str("</table>\n");
}

/// `text` with every character HTML gives a meaning escaped.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page's only styling, inline.
const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#123}\
h1{font-size:1.4em}.ok{color:#175}.damage{color:#a11;font-weight:bold}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccd;padding:.2em .6em;text-align:left}\
tr.bypass{background:#fff2e0}.diagram{display:block;margin:.5em 0;max-width:100%}\
.state rect{fill:#f4f6fa;stroke:#345;stroke-width:1.5}.state.occupied rect{fill:#dcefff}\
.state.initial rect{stroke-width:3}.state rect.inner{fill:none}\
.name{font-weight:bold;text-anchor:middle;font-size:14px}.count{text-anchor:middle;font-size:12px}\
.edge{fill:none;stroke:#345;stroke-width:1.3}.label{text-anchor:middle;font-size:11px;fill:#345}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_html_gives_a_meaning() {
        assert_eq!(
            esc("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
    }
}
