//! RESULT, widened: what a step of a workflow can come to besides success or
//! failure ([`Outcome`], whose docs state the semantics of every
//! combinator).
//!
//! It stands apart from the layers: it must never import another module of
//! the crate, so a workflow can use it without a store.

mod combinators;

use std::fmt;

use serde::{Deserialize, Serialize};

/// The result of a step that may also need a retry, wait on something,
/// be cancelled, or fan out into several outcomes.
///
/// # Semantics
///
/// An outcome is a tree: `Batch` nodes hold child outcomes, every other
/// variant is a leaf. Only `Ok` leaves carry a value, so the combinators work
/// on `Ok` leaves and pass the other leaves
/// through untouched:
///
/// * [`map`](Outcome::map) and [`and_then`](Outcome::and_then) apply their
///   function to every `Ok` leaf, inside batches too, and keep the tree's
///   shape; `and_then` grafts the tree the function returns in place of the
///   leaf. Nothing is ever merged or reordered (a one-element batch stays a
///   batch), which is what makes the functor and monad laws hold exactly.
/// * [`flatten`](Outcome::flatten) is `and_then` with the identity.
/// * [`zip`](Outcome::zip) is sequential and left-biased, the `zip` derived
///   from `and_then`: a non-`Ok` leaf of `self` wins; for each `Ok` leaf of
///   `self`, `other` is paired with it (so a failure of `other` appears
///   there). Two batches give their cartesian product, nested left first.
/// * [`join_all`](Outcome::join_all) folds `zip` over a sequence, left to
///   right: all `Ok` gives `Ok` of every value in order; otherwise the first
///   non-`Ok` outcome decides.
/// * [`into_result`](Outcome::into_result) keeps `Ok` as `Ok` and turns every
///   other variant (including every `Batch`, even one of only `Ok`s) into a
///   [`NotOk`] that says which it was; `From<NotOk>` gives the outcome back
///   unchanged.
///
/// ```
/// use batpak::{Outcome, Wait};
///
/// let charged: Outcome<u64, String> = Outcome::pure(4_200);
/// let with_tax = charged.map(|cents| cents + cents / 10);
/// assert_eq!(with_tax, Outcome::Ok(4_620));
///
/// // A batch applies the step to each of its outcomes.
/// let lines: Outcome<u64, String> =
///     Outcome::Batch(vec![Outcome::Ok(1), Outcome::Pending(Wait::on("stock:sku-9"))]);
/// let doubled = lines.and_then(|n| Outcome::Ok(n * 2));
/// assert_eq!(
///     doubled,
///     Outcome::Batch(vec![Outcome::Ok(2), Outcome::Pending(Wait::on("stock:sku-9"))]),
/// );
///
/// // Anything but `Ok` is refused as a `Result`, saying why.
/// let retry: Outcome<u64, String> = Outcome::retry(500, 2, "ledger busy");
/// assert!(retry.into_result().is_err());
/// ```
///
/// ```
/// use batpak::Outcome;
///
/// fn charge(cents: u64) -> Outcome<u64, String> {
///     match cents {
///         0 => Outcome::Err("nothing to charge".to_owned()),
///         1..=10_000 => Outcome::Ok(cents),
///         _ => Outcome::retry(1_000, 1, "card network busy"),
///     }
/// }
///
/// let order: Outcome<u64, String> = Outcome::from(Ok::<u64, String>(4_200));
/// assert_eq!(order.clone().and_then(charge), Outcome::Ok(4_200));
/// assert!(Outcome::pure(50_000).and_then(charge).is_retry());
/// assert_eq!(order.into_result(), Ok(4_200));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[must_use = "an outcome may be a failure, a retry or a wait that needs handling"]
pub enum Outcome<T, E> {
    /// The step succeeded with a value.
    Ok(T),
    /// The step failed for good.
    Err(E),
    /// The step failed for now; try again after `after_ms` milliseconds.
    Retry {
        /// How long to wait before the next attempt, in milliseconds.
        after_ms: u64,
        /// Which attempt failed (1 for the first).
        attempt: u32,
        /// Why the attempt failed, for people.
        reason: String,
    },
    /// The step cannot go on until something outside happens.
    Pending(Wait),
    /// The step was called off before it finished.
    Cancelled {
        /// Why it was called off.
        reason: String,
    },
    /// Several outcomes at once, in order (for example one per item).
    Batch(Vec<Outcome<T, E>>),
}

/// What a [`Outcome::Pending`] step waits for: a name another part of the
/// system can recognise (an event kind, a coordinate, an approval id) and,
/// optionally, how long the wait may last.
///
/// ```
/// use batpak::Wait;
/// let wait = Wait::on("approval:po-77").with_timeout_ms(86_400_000);
/// assert_eq!(wait.on, "approval:po-77");
/// assert_eq!(wait.timeout_ms, Some(86_400_000));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Wait {
    /// What is awaited.
    pub on: String,
    /// Give up after this many milliseconds; `None` waits indefinitely.
    pub timeout_ms: Option<u64>,
}

impl Wait {
    /// Waits, without a time limit, for `on`.
    #[must_use]
    pub fn on(on: impl Into<String>) -> Self {
        Self {
            on: on.into(),
            timeout_ms: None,
        }
    }

    /// Limits the wait to `timeout_ms` milliseconds.
    #[must_use]
    pub fn with_timeout_ms(mut self, timeout_ms: u64) -> Self {
        self.timeout_ms = Some(timeout_ms);
        self
    }
}

impl fmt::Display for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.timeout_ms {
            Some(ms) => write!(f, "waiting for {} (at most {ms} ms)", self.on),
            None => write!(f, "waiting for {}", self.on),
        }
    }
}

/// Why [`Outcome::into_result`] gave no value: every variant but `Ok`, kept
/// whole so nothing is lost. `Outcome::from(not_ok)` restores the outcome.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NotOk<T, E> {
    /// The outcome was [`Outcome::Err`].
    Err(E),
    /// The outcome was [`Outcome::Retry`].
    Retry {
        /// Milliseconds to wait before the next attempt.
        after_ms: u64,
        /// Which attempt failed.
        attempt: u32,
        /// Why it failed.
        reason: String,
    },
    /// The outcome was [`Outcome::Pending`].
    Pending(Wait),
    /// The outcome was [`Outcome::Cancelled`].
    Cancelled {
        /// Why it was called off.
        reason: String,
    },
    /// The outcome was a [`Outcome::Batch`] (of any contents: use
    /// [`Outcome::join_all`] first to turn a batch of `Ok`s into one `Ok`).
    Batch(Vec<Outcome<T, E>>),
}

impl<T, E: fmt::Display> fmt::Display for NotOk<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Err(e) => write!(f, "failed: {e}"),
            Self::Retry {
                after_ms,
                attempt,
                reason,
            } => write!(
                f,
                "attempt {attempt} failed ({reason}); retry after {after_ms} ms"
            ),
            Self::Pending(wait) => wait.fmt(f),
            Self::Cancelled { reason } => write!(f, "cancelled: {reason}"),
            Self::Batch(items) => write!(f, "a batch of {} outcomes", items.len()),
        }
    }
}

impl<T: fmt::Debug, E: fmt::Debug + fmt::Display> std::error::Error for NotOk<T, E> {}

impl<T, E> Outcome<T, E> {
    /// Success with `value` (the monad's `pure`/`return`).
    pub fn pure(value: T) -> Self {
        Self::Ok(value)
    }

    /// A failed attempt to retry after `after_ms` milliseconds.
    pub fn retry(after_ms: u64, attempt: u32, reason: impl Into<String>) -> Self {
        Self::Retry {
            after_ms,
            attempt,
            reason: reason.into(),
        }
    }

    /// A step waiting for `wait`.
    pub fn pending(wait: Wait) -> Self {
        Self::Pending(wait)
    }

    /// A step called off for `reason`.
    pub fn cancelled(reason: impl Into<String>) -> Self {
        Self::Cancelled {
            reason: reason.into(),
        }
    }

    /// True for [`Outcome::Ok`].
    #[must_use]
    pub fn is_ok(&self) -> bool {
        matches!(self, Self::Ok(_))
    }

    /// True for [`Outcome::Err`].
    #[must_use]
    pub fn is_err(&self) -> bool {
        matches!(self, Self::Err(_))
    }

    /// True for [`Outcome::Retry`].
    #[must_use]
    pub fn is_retry(&self) -> bool {
        matches!(self, Self::Retry { .. })
    }

    /// True for [`Outcome::Pending`].
    #[must_use]
    pub fn is_pending(&self) -> bool {
        matches!(self, Self::Pending(_))
    }

    /// True for [`Outcome::Cancelled`].
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Self::Cancelled { .. })
    }

    /// True for [`Outcome::Batch`].
    #[must_use]
    pub fn is_batch(&self) -> bool {
        matches!(self, Self::Batch(_))
    }

    /// The value of an `Ok`; `None` for every other variant (as
    /// [`Result::ok`]).
    #[must_use]
    pub fn ok(self) -> Option<T> {
        match self {
            Self::Ok(value) => Some(value),
            _ => None,
        }
    }

    /// `Ok(value)` for `Ok`; every other variant, batches included, becomes
    /// the matching [`NotOk`].
    ///
    /// # Errors
    /// [`NotOk`] holding the variant when the outcome is not `Ok`.
    pub fn into_result(self) -> Result<T, NotOk<T, E>> {
        match self {
            Self::Ok(value) => Ok(value),
            Self::Err(e) => Err(NotOk::Err(e)),
            Self::Retry {
                after_ms,
                attempt,
                reason,
            } => Err(NotOk::Retry {
                after_ms,
                attempt,
                reason,
            }),
            Self::Pending(wait) => Err(NotOk::Pending(wait)),
            Self::Cancelled { reason } => Err(NotOk::Cancelled { reason }),
            Self::Batch(items) => Err(NotOk::Batch(items)),
        }
    }
}

impl<T, E> From<Result<T, E>> for Outcome<T, E> {
    fn from(result: Result<T, E>) -> Self {
        match result {
            Ok(value) => Self::Ok(value),
            Err(e) => Self::Err(e),
        }
    }
}

impl<T, E> From<NotOk<T, E>> for Outcome<T, E> {
    fn from(not_ok: NotOk<T, E>) -> Self {
        match not_ok {
            NotOk::Err(e) => Self::Err(e),
            NotOk::Retry {
                after_ms,
                attempt,
                reason,
            } => Self::Retry {
                after_ms,
                attempt,
                reason,
            },
            NotOk::Pending(wait) => Self::Pending(wait),
            NotOk::Cancelled { reason } => Self::Cancelled { reason },
            NotOk::Batch(items) => Self::Batch(items),
        }
    }
}
