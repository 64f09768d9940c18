//! Laws of `Outcome`: functor and monad laws for `map` and `and_then`, and the
//! properties that tie `flatten`, `zip`, `join_all` and `into_result` to them.
//!
//! Functions are generated, not hand-picked: a `Table` maps each input to one
//! of a generated list of outcomes (any variant, nested batches included), so
//! the laws are checked against functions that fail, retry, wait, cancel and
//! fan out. On failure proptest prints the shrunk input and saves its seed in
//! `outcome_laws.proptest-regressions` beside this file; commit that file and
//! every later run replays the seed first.
//!
//! These tests were checked against a deliberately broken `and_then` (one
//! that unwraps one-element batches): four laws fail on it.

use batpak::{NotOk, Outcome, Wait};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

type O = Outcome<i32, u8>;

/// Any outcome whose `Ok` values come from `value`: every variant, with
/// batches nested up to three levels.
fn outcome_of<T>(value: impl Strategy<Value = T> + 'static) -> BoxedStrategy<Outcome<T, u8>>
where
    T: std::fmt::Debug + Clone + 'static,
{
    let wait = ("[a-z:0-9]{1,8}", option::of(0_u64..100_000)).prop_map(|(on, timeout)| {
        let wait = Wait::on(on);
        match timeout {
            Some(ms) => wait.with_timeout_ms(ms),
            None => wait,
        }
    });
    let leaf = prop_oneof![
        4 => value.prop_map(Outcome::Ok),
        1 => any::<u8>().prop_map(Outcome::Err),
        1 => (any::<u64>(), any::<u32>(), "[a-z ]{0,8}")
            .prop_map(|(after, attempt, reason)| Outcome::retry(after, attempt, reason)),
        1 => wait.prop_map(Outcome::Pending),
        1 => "[a-z ]{0,8}".prop_map(Outcome::cancelled),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| vec(inner, 0..4).prop_map(Outcome::Batch))
        .boxed()
}

fn outcome() -> BoxedStrategy<O> {
    outcome_of(any::<i32>())
}

/// A non-`Ok`, non-`Batch` leaf.
fn stop() -> BoxedStrategy<O> {
    outcome()
        .prop_filter("a leaf that carries no value", |o| {
            !o.is_ok() && !o.is_batch()
        })
        .boxed()
}

fn mix(x: i32, salt: u64) -> usize {
    let h = (u64::from(x.cast_unsigned()) ^ salt).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    usize::try_from(h >> 33).unwrap()
}

/// Adds `x` to every `Ok` leaf, written out here so the generated functions
/// do not depend on the combinators under test.
fn shift(o: &O, x: i32) -> O {
    match o {
        Outcome::Ok(v) => Outcome::Ok(v.wrapping_add(x)),
        Outcome::Batch(items) => Outcome::Batch(items.iter().map(|i| shift(i, x)).collect()),
        other => other.clone(),
    }
}

/// A generated function `i32 -> Outcome<i32, u8>`: the input picks an entry
/// of `outs` and is added to its `Ok` values. Can return every variant.
#[derive(Debug, Clone)]
struct Table {
    outs: Vec<O>,
    salt: u64,
}

impl Table {
    fn call(&self, x: i32) -> O {
        shift(&self.outs[mix(x, self.salt) % self.outs.len()], x)
    }
}

fn table() -> impl Strategy<Value = Table> {
    (vec(outcome(), 1..6), any::<u64>()).prop_map(|(outs, salt)| Table { outs, salt })
}

/// A generated function `i32 -> i32`.
#[derive(Debug, Clone)]
struct Pure {
    outs: Vec<i32>,
    salt: u64,
}

impl Pure {
    fn call(&self, x: i32) -> i32 {
        self.outs[mix(x, self.salt) % self.outs.len()] ^ x
    }
}

fn pure_fn() -> impl Strategy<Value = Pure> {
    (vec(any::<i32>(), 1..6), any::<u64>()).prop_map(|(outs, salt)| Pure { outs, salt })
}

/// Re-types a value-free leaf, as the combinators pass it through.
fn retype<T>(leaf: O) -> Outcome<T, u8> {
    match leaf.into_result() {
        Ok(_) | Err(NotOk::Batch(_)) => unreachable!("only value-free leaves are re-typed"),
        Err(NotOk::Err(e)) => Outcome::Err(e),
        Err(NotOk::Retry {
            after_ms,
            attempt,
            reason,
        }) => Outcome::retry(after_ms, attempt, reason),
        Err(NotOk::Pending(wait)) => Outcome::Pending(wait),
        Err(NotOk::Cancelled { reason }) => Outcome::cancelled(reason),
    }
}

proptest! {
    // ---- monad laws --------------------------------------------------------

    #[test]
    fn and_then_left_identity(a in any::<i32>(), f in table()) {
        prop_assert_eq!(Outcome::pure(a).and_then(|x| f.call(x)), f.call(a));
    }

    #[test]
    fn and_then_right_identity(m in outcome()) {
        prop_assert_eq!(m.clone().and_then(Outcome::pure), m);
    }

    #[test]
    fn and_then_is_associative(m in outcome(), f in table(), g in table()) {
        let left = m.clone().and_then(|x| f.call(x)).and_then(|y| g.call(y));
        let right = m.and_then(|x| f.call(x).and_then(|y| g.call(y)));
        prop_assert_eq!(left, right);
    }

    // ---- functor laws ------------------------------------------------------

    #[test]
    fn map_identity(m in outcome()) {
        prop_assert_eq!(m.clone().map(|x| x), m);
    }

    #[test]
    fn map_composition(m in outcome(), f in pure_fn(), g in pure_fn()) {
        let left = m.clone().map(|x| f.call(x)).map(|y| g.call(y));
        let right = m.map(|x| g.call(f.call(x)));
        prop_assert_eq!(left, right);
    }

    #[test]
    fn map_is_and_then_with_pure(m in outcome(), f in pure_fn()) {
        prop_assert_eq!(m.clone().map(|x| f.call(x)), m.and_then(|x| Outcome::pure(f.call(x))));
    }

    #[test]
    fn map_err_identity_and_composition(m in outcome(), k in any::<u8>()) {
        prop_assert_eq!(m.clone().map_err(|e| e), m.clone());
        let left = m.clone().map_err(|e| e ^ k).map_err(u32::from);
        let right = m.map_err(|e| u32::from(e ^ k));
        prop_assert_eq!(left, right);
    }

    #[test]
    fn map_err_changes_only_err_payloads(m in outcome(), k in any::<u8>()) {
        let changed = m.clone().map_err(|e| e ^ k);
        prop_assert_eq!(changed.map_err(|_| ()), m.map_err(|_| ()));
    }

    // ---- flatten -----------------------------------------------------------

    #[test]
    fn flatten_of_map_is_and_then(m in outcome(), f in table()) {
        prop_assert_eq!(m.clone().map(|x| f.call(x)).flatten(), m.and_then(|x| f.call(x)));
    }

    #[test]
    fn flatten_undoes_pure(m in outcome()) {
        prop_assert_eq!(Outcome::<O, u8>::pure(m.clone()).flatten(), m.clone());
        prop_assert_eq!(m.clone().map(Outcome::pure).flatten(), m);
    }

    #[test]
    fn flatten_is_associative(mmm in outcome_of(outcome_of(outcome_of(any::<i32>())))) {
        let outer_first = mmm.clone().flatten().flatten();
        let inner_first = mmm.map(Outcome::flatten).flatten();
        prop_assert_eq!(outer_first, inner_first);
    }

    // ---- zip ---------------------------------------------------------------

    #[test]
    fn zip_is_and_then_then_map(m in outcome(), n in outcome()) {
        let derived = m.clone().and_then(|a| n.clone().map(|b| (a, b)));
        prop_assert_eq!(m.zip(n), derived);
    }

    #[test]
    fn zip_with_pure_pairs_every_value(m in outcome(), b in any::<i32>()) {
        prop_assert_eq!(m.clone().zip(Outcome::pure(b)), m.clone().map(|a| (a, b)));
        prop_assert_eq!(Outcome::pure(b).zip(m.clone()), m.map(|a| (b, a)));
    }

    #[test]
    fn zip_keeps_a_stopped_left_side(left in stop(), n in outcome()) {
        prop_assert_eq!(left.clone().zip(n), retype(left));
    }

    #[test]
    fn zip_reports_the_right_side_failure_after_ok(a in any::<i32>(), right in stop()) {
        prop_assert_eq!(Outcome::pure(a).zip(right.clone()), retype(right));
    }

    #[test]
    fn zip_is_associative_up_to_regrouping(m in outcome(), n in outcome(), p in outcome()) {
        let left = m.clone().zip(n.clone()).zip(p.clone()).map(|((a, b), c)| (a, b, c));
        let right = m.zip(n.zip(p)).map(|(a, (b, c))| (a, b, c));
        prop_assert_eq!(left, right);
    }

    // ---- join_all ----------------------------------------------------------

    #[test]
    fn join_all_of_oks_is_ok_of_all_values(values in vec(any::<i32>(), 0..8)) {
        let joined = Outcome::<i32, u8>::join_all(values.iter().copied().map(Outcome::Ok));
        prop_assert_eq!(joined, Outcome::Ok(values));
    }

    #[test]
    fn join_all_is_decided_by_the_first_stopped_outcome(
        before in vec(any::<i32>(), 0..4),
        first in stop(),
        after in vec(outcome(), 0..4),
    ) {
        let all = before.iter().copied().map(Outcome::Ok)
            .chain(std::iter::once(first.clone()))
            .chain(after);
        prop_assert_eq!(Outcome::join_all(all), retype(first));
    }

    #[test]
    fn join_all_of_one_is_map_to_singleton(m in outcome()) {
        prop_assert_eq!(Outcome::join_all([m.clone()]), m.map(|x| vec![x]));
    }

    #[test]
    fn join_all_splits_at_any_point(xs in vec(outcome(), 0..3), ys in vec(outcome(), 0..3)) {
        let whole = Outcome::join_all(xs.iter().chain(&ys).cloned());
        let parts = Outcome::join_all(xs).zip(Outcome::join_all(ys)).map(|(mut a, b)| {
            a.extend(b);
            a
        });
        prop_assert_eq!(whole, parts);
    }

    // ---- conversions and predicates -----------------------------------------

    #[test]
    fn into_result_round_trips(m in outcome()) {
        let back = match m.clone().into_result() {
            Ok(v) => Outcome::Ok(v),
            Err(not_ok) => Outcome::from(not_ok),
        };
        prop_assert_eq!(back, m);
    }

    #[test]
    fn into_result_is_ok_exactly_for_ok(m in outcome()) {
        prop_assert_eq!(m.clone().into_result().is_ok(), m.is_ok());
        prop_assert_eq!(m.clone().into_result().ok(), m.ok());
    }

    #[test]
    fn from_result_maps_ok_and_err(r in any::<Result<i32, u8>>()) {
        let o = O::from(r);
        match r {
            Ok(v) => prop_assert_eq!(o, Outcome::Ok(v)),
            Err(e) => prop_assert_eq!(o, Outcome::Err(e)),
        }
    }

    #[test]
    fn exactly_one_predicate_holds(m in outcome()) {
        let flags = [m.is_ok(), m.is_err(), m.is_retry(), m.is_pending(), m.is_cancelled(), m.is_batch()];
        prop_assert_eq!(flags.iter().filter(|f| **f).count(), 1);
    }

    #[test]
    fn msgpack_round_trips(m in outcome()) {
        let bytes = rmp_serde::to_vec(&m).unwrap();
        prop_assert_eq!(rmp_serde::from_slice::<O>(&bytes).unwrap(), m);
    }
}

#[test]
fn join_all_of_nothing_is_ok_of_nothing() {
    let none: [O; 0] = [];
    assert_eq!(Outcome::join_all(none), Outcome::Ok(vec![]));
}

#[test]
fn zip_of_two_batches_is_their_product_left_first() {
    let m: O = Outcome::Batch(vec![Outcome::Ok(1), Outcome::Ok(2)]);
    let n: Outcome<char, u8> = Outcome::Batch(vec![Outcome::Ok('a'), Outcome::Err(9)]);
    assert_eq!(
        m.zip(n),
        Outcome::Batch(vec![
            Outcome::Batch(vec![Outcome::Ok((1, 'a')), Outcome::Err(9)]),
            Outcome::Batch(vec![Outcome::Ok((2, 'a')), Outcome::Err(9)]),
        ])
    );
}

#[test]
fn into_result_refuses_a_batch_even_of_oks() {
    let m: O = Outcome::Batch(vec![Outcome::Ok(1)]);
    assert_eq!(m.into_result(), Err(NotOk::Batch(vec![Outcome::Ok(1)])));
}

#[test]
fn not_ok_says_what_happened() {
    let retry: O = Outcome::retry(250, 3, "ledger busy");
    let Err(not_ok) = retry.into_result() else {
        panic!("a retry is not ok");
    };
    assert_eq!(
        not_ok.to_string(),
        "attempt 3 failed (ledger busy); retry after 250 ms"
    );
    let pending: O = Outcome::Pending(Wait::on("approval:7").with_timeout_ms(60_000));
    assert_eq!(
        pending.into_result().unwrap_err().to_string(),
        "waiting for approval:7 (at most 60000 ms)"
    );
}

#[test]
fn generated_outcomes_and_functions_cover_every_variant() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    fn visit(o: &O, depth: usize, seen: &mut [bool; 7]) {
        let i = match o {
            Outcome::Ok(_) => 0,
            Outcome::Err(_) => 1,
            Outcome::Retry { .. } => 2,
            Outcome::Pending(_) => 3,
            Outcome::Cancelled { .. } => 4,
            Outcome::Batch(items) => {
                if depth > 0 {
                    seen[6] = true; // a batch inside a batch
                }
                for item in items {
                    visit(item, depth + 1, seen);
                }
                5
            }
        };
        seen[i] = true;
    }

    let mut runner = TestRunner::deterministic();
    let mut seen = [false; 7];
    let tables = table();
    for x in 0..200 {
        let f = tables.new_tree(&mut runner).unwrap().current();
        visit(&f.call(x), 0, &mut seen);
    }
    assert_eq!(
        seen, [true; 7],
        "Ok, Err, Retry, Pending, Cancelled, Batch, nested Batch"
    );
}
