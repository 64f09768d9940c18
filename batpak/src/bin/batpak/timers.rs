//! `batpak timers`: the pending timers of the machines whose scheduler has
//! recorded its timer table in the store (`batpak::pending_timers`), one
//! line each, soonest first. Reads through the library only; writes only
//! to the `out` it is given.

use std::io::Write;

use batpak::{Store, WiringError, now_us, pending_timers};

use crate::failure::{EXIT_OK, Failure};
use crate::render::Quoted;

/// Prints every pending timer with how long until it is due (or how long
/// it is overdue: no scheduler is running, or it is behind).
pub(crate) fn timers(store: &Store, out: &mut dyn Write) -> Result<u8, Failure> {
    let pending = pending_timers(store).map_err(|error| match error {
        WiringError::Store(error) => Failure::Store(error),
        other => Failure::Usage(format!("cannot list the timers: {other}")),
    })?;
    let now = now_us();
    for timer in &pending {
        let when = if timer.due_us >= now {
            format!("in {}", span(timer.due_us - now))
        } else {
            format!("overdue {}", span(now - timer.due_us))
        };
        writeln!(
            out,
            "{} {} {} {} entered={} ({when})",
            timer.due_us,
            Quoted(&timer.machine),
            Quoted(&timer.variant),
            timer.coordinate,
            timer.entered,
        )?;
    }
    Ok(EXIT_OK)
}

/// `3d 4h`, `29m 59s`, `12s`: a span of microseconds to the second, in its
/// two largest units.
fn span(us: u64) -> String {
    let seconds = us / 1_000_000;
    let units = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)];
    let parts: Vec<String> = units
        .iter()
        .scan(seconds, |left, (unit, size)| {
            let n = *left / size;
            *left %= size;
            Some((n, unit))
        })
        .skip_while(|(n, _)| *n == 0)
        .take(2)
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    if parts.is_empty() {
        "0s".to_owned()
    } else {
        parts.join(" ")
    }
}
