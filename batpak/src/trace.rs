//! Optional `tracing` instrumentation (the `tracing` feature), behind three
//! crate-private macros so the default build compiles none of it.
//!
//! - `span!(name, fields..)` enters a span and evaluates to its guard; every
//!   span carries an `outcome` field recorded when it ends. Without the
//!   feature it is a zero-sized [`NoSpan`] and its fields are never
//!   evaluated (their tokens are dropped, so they may name `tracing` items).
//! - `record!(span, field = value, ..)` records fields declared with
//!   `tracing::field::Empty`; nothing without the feature.
//! - `denied!(decided)` logs a gate's refusal as an `info` event (a denial
//!   is the policy working, not a fault) with its gate, code, message and
//!   context; nothing without the feature.
//!
//! The spans: `step` and `submit` (machine, entity, kind), `gate` (gate,
//! entity, kind), `commit` (entity, kind, admission), `sync` (events),
//! `open` (dir, writable; events, from_checkpoint, truncated_bytes,
//! lost_events) and `project` (projection; applied, from_cache). `step`,
//! `submit` and `open` are at `info`, the others at `debug`. A span's own
//! timing is its duration.

/// Enters a span at `$level` with an empty `outcome` field and `$fields`.
#[cfg(feature = "tracing")]
macro_rules! span {
    ($level:ident, $name:literal $(, $($fields:tt)*)?) => {
        ::tracing::span!(
            ::tracing::Level::$level,
            $name,
            outcome = ::tracing::field::Empty
            $(, $($fields)*)?
        )
        .entered()
    };
}

/// Without the feature: nothing, and the fields are not evaluated.
#[cfg(not(feature = "tracing"))]
macro_rules! span {
    ($($ignored:tt)*) => {
        $crate::trace::NoSpan
    };
}

/// Records fields (declared `Empty` when the span was made) on a span.
#[cfg(feature = "tracing")]
macro_rules! record {
    ($span:expr, $($field:ident = $value:expr),+ $(,)?) => {{
        let span: &::tracing::Span = &$span;
        $(span.record(stringify!($field), $value);)+
    }};
}

/// Without the feature: nothing.
#[cfg(not(feature = "tracing"))]
macro_rules! record {
    ($($ignored:tt)*) => {};
}

/// Logs the denial of a `Result<_, Denial>`, if it is one, as an `info`
/// event with its gate, code, message and context.
#[cfg(feature = "tracing")]
macro_rules! denied {
    ($decided:expr) => {
        if let Err(denial) = &$decided {
            ::tracing::info!(
                gate = denial.gate(),
                code = denial.code(),
                message = denial.message(),
                context = ?denial.context(),
                "gate denied"
            );
        }
    };
}

/// Without the feature: nothing.
#[cfg(not(feature = "tracing"))]
macro_rules! denied {
    ($($ignored:tt)*) => {};
}

pub(crate) use {denied, record, span};

/// What `span!` gives without the feature: nothing to enter or drop.
#[cfg(not(feature = "tracing"))]
pub(crate) struct NoSpan;

/// `"ok"` or `"error"`: the outcome of a span whose errors need no name.
#[cfg(feature = "tracing")]
pub(crate) fn outcome<T, E>(result: &Result<T, E>) -> &'static str {
    if result.is_ok() { "ok" } else { "error" }
}
