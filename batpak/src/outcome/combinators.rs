//! The combinators of [`Outcome`]: functor (`map`, `map_err`), monad
//! (`and_then`, `flatten`) and the applicative pieces derived from them
//! (`zip`, `join_all`).
//!
//! Every combinator walks the outcome tree and touches only `Ok` leaves (or
//! `Err` leaves for `map_err`); all other leaves are carried over unchanged
//! and batches keep their length and order. Recursion depth is the batch
//! nesting depth of the input, which the caller built (or decoded under
//! [`MAX_DECODE_DEPTH`](crate::MAX_DECODE_DEPTH)). A combinator must never
//! merge or reorder leaves: the laws depend on it.

use super::{Outcome, Wait};

/// A leaf that carries no `T`: it passes through every combinator on `Ok`
/// values, whatever the new value type is.
enum Leaf<E> {
    Err(E),
    Retry {
        after_ms: u64,
        attempt: u32,
        reason: String,
    },
    Pending(Wait),
    Cancelled {
        reason: String,
    },
}

impl<E> Leaf<E> {
    fn into_outcome<U>(self) -> Outcome<U, E> {
        match self {
            Self::Err(e) => Outcome::Err(e),
            Self::Retry {
                after_ms,
                attempt,
                reason,
            } => Outcome::Retry {
                after_ms,
                attempt,
                reason,
            },
            Self::Pending(wait) => Outcome::Pending(wait),
            Self::Cancelled { reason } => Outcome::Cancelled { reason },
        }
    }
}

/// One node of the outcome tree, split by what the combinators do with it.
enum Node<T, E> {
    Value(T),
    Many(Vec<Outcome<T, E>>),
    Leaf(Leaf<E>),
}

impl<T, E> Outcome<T, E> {
    fn into_node(self) -> Node<T, E> {
        match self {
            Self::Ok(value) => Node::Value(value),
            Self::Batch(items) => Node::Many(items),
            Self::Err(e) => Node::Leaf(Leaf::Err(e)),
            Self::Retry {
                after_ms,
                attempt,
                reason,
            } => Node::Leaf(Leaf::Retry {
                after_ms,
                attempt,
                reason,
            }),
            Self::Pending(wait) => Node::Leaf(Leaf::Pending(wait)),
            Self::Cancelled { reason } => Node::Leaf(Leaf::Cancelled { reason }),
        }
    }

    /// Applies `f` to every `Ok` value, inside batches too; every other
    /// variant is kept as it is.
    ///
    /// ```
    /// use batpak::Outcome;
    /// let batch: Outcome<u32, ()> = Outcome::Batch(vec![Outcome::Ok(1), Outcome::cancelled("user")]);
    /// assert_eq!(
    ///     batch.map(|n| n + 1),
    ///     Outcome::Batch(vec![Outcome::Ok(2), Outcome::cancelled("user")]),
    /// );
    /// ```
    pub fn map<U, F: FnMut(T) -> U>(self, mut f: F) -> Outcome<U, E> {
        self.map_with(&mut f)
    }

    fn map_with<U, F: FnMut(T) -> U>(self, f: &mut F) -> Outcome<U, E> {
        match self.into_node() {
            Node::Value(value) => Outcome::Ok(f(value)),
            Node::Many(items) => {
                Outcome::Batch(items.into_iter().map(|item| item.map_with(f)).collect())
            }
            Node::Leaf(leaf) => leaf.into_outcome(),
        }
    }

    /// Applies `f` to every `Err`, inside batches too; every other variant
    /// is kept as it is.
    pub fn map_err<E2, F: FnMut(E) -> E2>(self, mut f: F) -> Outcome<T, E2> {
        self.map_err_with(&mut f)
    }

    fn map_err_with<E2, F: FnMut(E) -> E2>(self, f: &mut F) -> Outcome<T, E2> {
        match self {
            Self::Ok(value) => Outcome::Ok(value),
            Self::Err(e) => Outcome::Err(f(e)),
            Self::Retry {
                after_ms,
                attempt,
                reason,
            } => Outcome::Retry {
                after_ms,
                attempt,
                reason,
            },
            Self::Pending(wait) => Outcome::Pending(wait),
            Self::Cancelled { reason } => Outcome::Cancelled { reason },
            Self::Batch(items) => {
                Outcome::Batch(items.into_iter().map(|item| item.map_err_with(f)).collect())
            }
        }
    }

    /// Replaces every `Ok` value, inside batches too, with the outcome `f`
    /// returns for it (which may be any variant, a batch included); every
    /// other variant is kept as it is. Obeys the monad laws with
    /// [`Outcome::pure`].
    ///
    /// ```
    /// use batpak::Outcome;
    /// let reserve = |qty: u32| -> Outcome<u32, String> {
    ///     if qty <= 5 { Outcome::Ok(qty) } else { Outcome::Err(format!("only 5 left, asked {qty}")) }
    /// };
    /// assert_eq!(Outcome::pure(3).and_then(reserve), Outcome::Ok(3));
    /// assert!(Outcome::pure(9).and_then(reserve).is_err());
    /// ```
    pub fn and_then<U, F: FnMut(T) -> Outcome<U, E>>(self, mut f: F) -> Outcome<U, E> {
        self.and_then_with(&mut f)
    }

    fn and_then_with<U, F: FnMut(T) -> Outcome<U, E>>(self, f: &mut F) -> Outcome<U, E> {
        match self.into_node() {
            Node::Value(value) => f(value),
            Node::Many(items) => Outcome::Batch(
                items
                    .into_iter()
                    .map(|item| item.and_then_with(f))
                    .collect(),
            ),
            Node::Leaf(leaf) => leaf.into_outcome(),
        }
    }

    /// Pairs the `Ok` values of `self` and `other`, left-biased: a non-`Ok`
    /// leaf of `self` is kept; each `Ok` leaf of `self` is replaced by
    /// `other` with that value paired in (so batches give a cartesian
    /// product). Equal to `self.and_then(|a| other.clone().map(|b| (a.clone(), b)))`.
    ///
    /// ```
    /// use batpak::Outcome;
    /// let a: Outcome<u8, &str> = Outcome::Ok(1);
    /// assert_eq!(a.clone().zip(Outcome::<char, &str>::Ok('x')), Outcome::Ok((1, 'x')));
    /// assert_eq!(a.zip(Outcome::<char, &str>::Err("no")), Outcome::Err("no"));
    /// ```
    pub fn zip<U>(self, other: Outcome<U, E>) -> Outcome<(T, U), E>
    where
        T: Clone,
        U: Clone,
        E: Clone,
    {
        match self.into_node() {
            Node::Value(a) => pair_with(a, other),
            Node::Many(items) => Outcome::Batch(
                items
                    .into_iter()
                    .map(|item| item.zip(other.clone()))
                    .collect(),
            ),
            Node::Leaf(leaf) => leaf.into_outcome(),
        }
    }

    /// Collects a sequence of outcomes into one, left to right, by folding
    /// [`Outcome::zip`]: all `Ok` gives `Ok` of the values in order (an empty
    /// sequence gives `Ok(vec![])`); otherwise the first non-`Ok` outcome
    /// decides, and batches multiply out.
    ///
    /// ```
    /// use batpak::Outcome;
    /// let all = Outcome::join_all([Outcome::<u8, ()>::Ok(1), Outcome::Ok(2)]);
    /// assert_eq!(all, Outcome::Ok(vec![1, 2]));
    /// let stuck = Outcome::join_all([Outcome::<u8, ()>::Ok(1), Outcome::cancelled("timeout")]);
    /// assert_eq!(stuck, Outcome::cancelled("timeout"));
    /// ```
    pub fn join_all<I>(outcomes: I) -> Outcome<Vec<T>, E>
    where
        I: IntoIterator<Item = Self>,
        T: Clone,
        E: Clone,
    {
        outcomes
            .into_iter()
            .fold(Outcome::Ok(Vec::new()), |acc, next| {
                acc.zip(next).map(|(mut values, value)| {
                    values.push(value);
                    values
                })
            })
    }
}

/// `other.map(|b| (a.clone(), b))`, cloning `a` only for the elements of a
/// batch, so folding `zip` over plain `Ok`s (as `join_all` does) copies
/// nothing.
fn pair_with<T: Clone, U, E>(a: T, other: Outcome<U, E>) -> Outcome<(T, U), E> {
    match other.into_node() {
        Node::Value(b) => Outcome::Ok((a, b)),
        Node::Many(items) => Outcome::Batch(
            items
                .into_iter()
                .map(|item| pair_with(a.clone(), item))
                .collect(),
        ),
        Node::Leaf(leaf) => leaf.into_outcome(),
    }
}

impl<T, E> Outcome<Outcome<T, E>, E> {
    /// Removes one level of nesting: each `Ok(inner)` leaf is replaced by
    /// `inner`. Equal to `self.and_then(|inner| inner)`.
    ///
    /// ```
    /// use batpak::Outcome;
    /// let nested: Outcome<Outcome<u8, ()>, ()> = Outcome::Ok(Outcome::retry(10, 1, "busy"));
    /// assert_eq!(nested.flatten(), Outcome::retry(10, 1, "busy"));
    /// ```
    pub fn flatten(self) -> Outcome<T, E> {
        self.and_then(|inner| inner)
    }
}
