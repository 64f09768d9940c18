//! `batpak explain`: one entity's story. For each of its streams (one per
//! scope): every event with its time, variant and fields, how it was
//! admitted (the gates, or who bypassed and why) and the state it led to;
//! then the machine's diagram with the current state marked. Names come
//! from the store's catalog; an event of no recorded machine is shown by
//! kind, with no state.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;

use batpak::{Admission, CatalogEntry, Coordinate, Region, Store, StoredEvent};

use crate::catalog::{Catalog, UNKNOWN_STATE, step};
use crate::failure::{EXIT_OK, EXIT_USAGE, Failure};
use crate::render::{Dynamic, Quoted};

/// Explains every stream of `entity` (in `scope` when given).
pub(crate) fn explain(
    store: &Store,
    entity: &str,
    scope: Option<&str>,
    out: &mut dyn Write,
) -> Result<u8, Failure> {
    let mut region = Region::entity(entity);
    if let Some(scope) = scope {
        region = region.scope(scope);
    }
    let events = store.query::<Dynamic>(&region)?;
    if events.is_empty() {
        eprintln!("batpak: no events for entity {}", Quoted(entity));
        return Ok(EXIT_USAGE);
    }
    let catalog = Catalog::read(store)?;
    let mut streams: BTreeMap<Coordinate, Vec<StoredEvent<Dynamic>>> = BTreeMap::new();
    for event in events {
        streams
            .entry(event.header.coordinate.clone())
            .or_default()
            .push(event);
    }
    for (i, (coordinate, events)) in streams.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        let text = stream_story(&catalog, coordinate, events);
        out.write_all(text.as_bytes())?;
    }
    Ok(EXIT_OK)
}

/// One stream's timeline and diagram.
fn stream_story(
    catalog: &Catalog,
    coordinate: &Coordinate,
    events: &[StoredEvent<Dynamic>],
) -> String {
    let machine = events
        .first()
        .and_then(|e| catalog.machine_of(e.header.kind));
    let mut state = machine.map(|m| m.initial.clone());
    let mut text = String::new();
    let mut timeline = String::new();
    for event in events {
        let h = &event.header;
        let name = catalog
            .kind_name(h.kind)
            .unwrap_or_else(|| format!("kind {}", h.kind));
        let _ = writeln!(
            timeline,
            "  #{:<3} {}  {}",
            h.sequence,
            utc(h.timestamp_us),
            variant(&name, &event.payload)
        );
        let _ = writeln!(timeline, "        {}", admitted(&h.admission));
        if let (Some(m), Some(before)) = (machine, state.as_deref()) {
            let after = step(m, before, h);
            let _ = writeln!(timeline, "        state: {before} -> {after}");
            state = Some(after);
        }
    }
    let _ = match (machine, &state) {
        (Some(m), Some(s)) => writeln!(
            text,
            "{coordinate}: {}, {} events, state {s}",
            m.name,
            events.len()
        ),
        _ => writeln!(
            text,
            "{coordinate}: {} events (no machine in the store's catalog names its kind)",
            events.len()
        ),
    };
    text.push_str(&timeline);
    if let (Some(m), Some(s)) = (machine, &state) {
        text.push('\n');
        text.push_str(&diagram(m, s));
    }
    text
}

/// `gates: a, b`, `bypass by "who": "why"` or `direct append`.
fn admitted(admission: &Admission) -> String {
    match admission {
        Admission::Gated { gates, .. } if gates.is_empty() => {
            "admitted: gated (no gate of the machine applies to this event)".to_owned()
        }
        Admission::Gated { gates, .. } => {
            let names: Vec<String> = gates.iter().map(|g| Quoted(g).to_string()).collect();
            format!("admitted by gates: {}", names.join(", "))
        }
        Admission::Bypassed { by, reason, .. } => {
            format!("BYPASSED by {} because {}", Quoted(by), Quoted(reason))
        }
        Admission::Direct => "direct append (no gate, no bypass)".to_owned(),
        _ => "admission unknown to this tool".to_owned(),
    }
}

/// `Machine::Variant { field: value, .. }` from an externally tagged enum
/// payload (a map of one variant name to its fields, or the name alone).
pub(crate) fn variant(name: &str, payload: &Dynamic) -> String {
    match payload {
        Dynamic::Str(_) => name.to_owned(),
        Dynamic::Map(entries) if entries.len() == 1 => match &entries[0].1 {
            Dynamic::Map(fields) => {
                let fields: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| match k {
                        Dynamic::Str(k) if is_identifier(k) => format!("{k}: {v}"),
                        other => format!("{other}: {v}"),
                    })
                    .collect();
                format!("{name} {{ {} }}", fields.join(", "))
            }
            Dynamic::Seq(items) => {
                let items: Vec<String> = items.iter().map(ToString::to_string).collect();
                format!("{name}({})", items.join(", "))
            }
            other => format!("{name}({other})"),
        },
        other => format!("{name} {other}"),
    }
}

fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The machine's diagram as text: the states (the current one marked) and
/// every edge of the recorded table.
pub(crate) fn diagram(machine: &CatalogEntry, current: &str) -> String {
    let mut text = format!("machine {}", machine.name);
    if !machine.gates.is_empty() {
        let _ = write!(text, " (gates: {})", machine.gates.join(", "));
    }
    text.push('\n');
    let states: Vec<String> = machine
        .states
        .iter()
        .map(|s| {
            if s == current {
                format!("[{s}]")
            } else {
                s.clone()
            }
        })
        .collect();
    let _ = writeln!(text, "  states: {}   ([..] = current)", states.join("  "));
    if current == UNKNOWN_STATE {
        text.push_str("  current: unknown (a step the recorded table does not have)\n");
    }
    let _ = writeln!(text, "  [*] --> {}", machine.initial);
    for (from, event, to) in &machine.transitions {
        let here = if to == current { "   <- here" } else { "" };
        let _ = writeln!(text, "  {from} --{event}--> {to}{here}");
    }
    for terminal in &machine.terminal {
        let _ = writeln!(text, "  {terminal} --> [*]");
    }
    text
}

/// A timestamp in microseconds since the Unix epoch as UTC text,
/// `2026-12-01 17:06:01.123456Z` (the proleptic Gregorian calendar, from
/// days since the epoch by Hinnant's `civil_from_days`).
pub(crate) fn utc(timestamp_us: u64) -> String {
    let secs = timestamp_us / 1_000_000;
    let micros = timestamp_us % 1_000_000;
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{micros:06}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01 00:00:00.000000Z");
        assert_eq!(utc(951_782_400_000_001), "2000-02-29 00:00:00.000001Z");
        assert_eq!(utc(1_796_144_515_045_119), "2026-12-01 17:01:55.045119Z");
    }

    #[test]
    fn variants_read_like_rust() {
        let approved = Dynamic::Map(vec![(
            Dynamic::Str("Approved".into()),
            Dynamic::Map(vec![
                (Dynamic::Str("officer".into()), Dynamic::Str("bob".into())),
                (Dynamic::Str("amount_cents".into()), Dynamic::UInt(40_000)),
            ]),
        )]);
        assert_eq!(
            variant("Loan::Approved", &approved),
            "Loan::Approved { officer: \"bob\", amount_cents: 40000 }"
        );
        assert_eq!(
            variant("Loan::Expired", &Dynamic::Str("Expired".into())),
            "Loan::Expired"
        );
    }
}
