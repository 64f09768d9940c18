//! Subscriptions: order and filtering, durability before delivery, the
//! slow-consumer policy (lagged with an exact count), cleanup and close.

use std::time::Duration;

use batpak::prelude::*;
use batpak::{Delivery, Subscription, SubscriptionError};

const PLACED: EventKind = EventKind::new(7, 1);
const PAID: EventKind = EventKind::new(7, 2);

fn coord(e: &str) -> Coordinate {
    Coordinate::new(e, "shop:acme").unwrap()
}

fn event<P>(d: Delivery<P>) -> StoredEvent<P> {
    match d {
        Delivery::Event(e) => e,
        Delivery::Lagged {
            missed,
            resume_from,
        } => panic!("unexpected lag: {missed} missed from {resume_from}"),
    }
}

const SHORT: Duration = Duration::from_millis(50);

#[test]
fn events_arrive_in_position_order_filtered_by_region() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    let region = Region::entity_prefix("order:").kind(PLACED);
    let sub: Subscription<u64> = store.subscribe(region.clone()).unwrap();
    assert_eq!(sub.start_position(), 0);
    std::thread::scope(|s| {
        for t in 0..4_u64 {
            let store = &store;
            s.spawn(move || {
                for n in 0..25_u64 {
                    let kind = if n % 3 == 0 { PAID } else { PLACED };
                    let entity = if n % 4 == 0 { "cart" } else { "order" };
                    let c = coord(&format!("{entity}:{t}"));
                    store.append(&c, kind, &(t * 100 + n)).unwrap();
                }
            });
        }
    });
    let expected = store.query::<u64>(&region).unwrap();
    assert!(!expected.is_empty());
    let mut got = Vec::new();
    while let Some(d) = sub.try_recv().unwrap() {
        got.push(event(d));
    }
    assert_eq!(got, expected);
    assert!(got.windows(2).all(|w| w[0].position() < w[1].position()));
    assert!(got.iter().all(|e| region.matches(&e.header)));
}

#[test]
fn nothing_is_delivered_before_sync_under_manual_policy() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig::new(dir.path()).sync_policy(SyncPolicy::Manual);
    let store = Store::open(config).unwrap();
    let sub: Subscription<u64> = store.subscribe(Region::all()).unwrap();
    for n in 0..3_u64 {
        store.append(&coord("order:1"), PLACED, &n).unwrap();
    }
    assert!(sub.try_recv().unwrap().is_none());
    assert!(sub.recv_timeout(SHORT).unwrap().is_none());
    assert_eq!(store.stats().durable_events, 0);

    store.sync().unwrap();
    let got: Vec<u64> = (0..3)
        .map(|_| event(sub.recv_timeout(SHORT).unwrap().unwrap()).payload)
        .collect();
    assert_eq!(got, [0, 1, 2]);
    assert!(sub.try_recv().unwrap().is_none());
}

#[test]
fn every_n_policy_delivers_after_the_covering_sync() {
    let dir = tempfile::tempdir().unwrap();
    // A sync starts once half of `events` wait: at the third event here.
    let config = StoreConfig::new(dir.path()).sync_policy(SyncPolicy::EveryN {
        events: 6,
        max_delay_ms: 60_000,
    });
    let store = Store::open(config).unwrap();
    let sub: Subscription<u64> = store.subscribe(Region::all()).unwrap();
    store.append(&coord("order:1"), PLACED, &1_u64).unwrap();
    store.append(&coord("order:1"), PLACED, &2_u64).unwrap();
    assert!(sub.recv_timeout(SHORT).unwrap().is_none());
    // The third starts the sync that covers all three (in the background;
    // the long `max_delay_ms` is not what delivers them).
    store.append(&coord("order:1"), PLACED, &3_u64).unwrap();
    for n in 1..=3_u64 {
        let delivered = sub.recv_timeout(Duration::from_secs(30)).unwrap().unwrap();
        assert_eq!(event(delivered).payload, n);
    }
}

#[test]
fn overflow_marks_lagged_with_exact_missed_count_then_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    let region = Region::entity("order:1");
    let sub: Subscription<u64> = store.subscribe_with_capacity(region.clone(), 4).unwrap();
    for n in 0..10_u64 {
        store.append(&coord("order:1"), PLACED, &n).unwrap();
        // Outside the region: must not count as missed.
        store.append(&coord("order:2"), PLACED, &n).unwrap();
    }
    // The queued four first, in order.
    for n in 0..4_u64 {
        assert_eq!(event(sub.try_recv().unwrap().unwrap()).payload, n);
    }
    // Then the notice: six missed, the first is order:1's fifth event.
    let notice = sub.try_recv().unwrap().unwrap();
    assert_eq!(
        notice,
        Delivery::Lagged {
            missed: 6,
            resume_from: 8
        }
    );
    // Catch up from there: exactly the six missed.
    let missed = store
        .query::<u64>(&region.clone().from_position(8))
        .unwrap();
    let missed: Vec<u64> = missed.into_iter().map(|e| e.payload).collect();
    assert_eq!(missed, [4, 5, 6, 7, 8, 9]);
    // Live delivery continues.
    assert!(sub.try_recv().unwrap().is_none());
    store.append(&coord("order:1"), PLACED, &10_u64).unwrap();
    let e = event(sub.try_recv().unwrap().unwrap());
    assert_eq!((e.payload, e.position()), (10, 20));
}

#[test]
fn a_lagging_subscriber_does_not_block_appends_or_others() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    let slow: Subscription<u64> = store.subscribe_with_capacity(Region::all(), 1).unwrap();
    let fast: Subscription<u64> = store.subscribe_with_capacity(Region::all(), 64).unwrap();
    for n in 0..50_u64 {
        store.append(&coord("order:1"), PLACED, &n).unwrap();
    }
    let got: Vec<u64> = std::iter::from_fn(|| fast.try_recv().unwrap())
        .map(|d| event(d).payload)
        .collect();
    assert_eq!(got, (0..50).collect::<Vec<_>>());
    assert_eq!(event(slow.try_recv().unwrap().unwrap()).payload, 0);
    assert_eq!(
        slow.try_recv().unwrap(),
        Some(Delivery::Lagged {
            missed: 49,
            resume_from: 1
        })
    );
}

#[test]
fn dropped_subscriptions_are_cleaned_up() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    let a: Subscription<u64> = store.subscribe(Region::all()).unwrap();
    let b: Subscription<u64> = store.subscribe(Region::entity("order:1")).unwrap();
    assert_eq!(store.subscriber_count(), 2);
    drop(a);
    assert_eq!(store.subscriber_count(), 1);
    store.append(&coord("order:1"), PLACED, &1_u64).unwrap();
    assert_eq!(event(b.try_recv().unwrap().unwrap()).payload, 1);
    // Dropped from another thread while events flow.
    let handle = std::thread::spawn(move || drop(b));
    store.append(&coord("order:1"), PLACED, &2_u64).unwrap();
    handle.join().unwrap();
    assert_eq!(store.subscriber_count(), 0);
    store.append(&coord("order:1"), PLACED, &3_u64).unwrap();
}

#[test]
fn closing_the_store_ends_subscriptions_after_the_queue_drains() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path()).sync_policy(SyncPolicy::Manual)).unwrap();
    let sub: Subscription<u64> = store.subscribe(Region::all()).unwrap();
    let consumer = std::thread::spawn(move || {
        sub.iter()
            .map(|d| event(d.unwrap()).payload)
            .collect::<Vec<_>>()
    });
    for n in 0..5_u64 {
        store.append(&coord("order:1"), PLACED, &n).unwrap();
    }
    // Close syncs: the buffered events become durable and are delivered.
    store.close().unwrap();
    assert_eq!(consumer.join().unwrap(), [0, 1, 2, 3, 4]);
}

#[test]
fn undecodable_payload_is_an_error_and_the_subscription_continues() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    let sub: Subscription<u64> = store.subscribe(Region::all()).unwrap();
    store.append(&coord("order:1"), PLACED, &"text").unwrap();
    store.append(&coord("order:1"), PLACED, &7_u64).unwrap();
    let err = sub.try_recv().unwrap_err();
    assert!(matches!(err, SubscriptionError::Decode { position: 0, .. }));
    assert_eq!(event(sub.try_recv().unwrap().unwrap()).payload, 7);
    drop(store);
    assert!(matches!(sub.recv(), Err(SubscriptionError::Closed)));
}

#[test]
fn inverted_region_cannot_be_subscribed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    #[allow(clippy::reversed_empty_ranges)]
    let region = Region::all().positions(3..=1);
    let err = store.subscribe::<u64>(region).unwrap_err();
    assert!(matches!(err, StoreError::InvalidRegion(_)));
}

#[test]
fn a_subscription_starts_at_the_durable_watermark_and_delivers_only_newer_events() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path()).sync_policy(SyncPolicy::Manual)).unwrap();
    for n in 0..5_u64 {
        store.append(&coord("order:1"), PLACED, &n).unwrap();
    }
    store.sync().unwrap();
    // Appended but not durable: still ahead of the subscription's start.
    store.append(&coord("order:1"), PLACED, &5_u64).unwrap();
    let sub: Subscription<u64> = store.subscribe(Region::all()).unwrap();
    assert_eq!(sub.start_position(), 5);
    assert!(sub.try_recv().unwrap().is_none());
    store.sync().unwrap();
    let e = event(sub.try_recv().unwrap().unwrap());
    assert_eq!((e.payload, e.position()), (5, 5));
}

#[test]
fn a_small_buffer_under_concurrent_appends_loses_and_repeats_nothing_with_cursor_catch_up() {
    const THREADS: u64 = 4;
    const PER_THREAD: u64 = 250;
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig::new(dir.path()).sync_policy(SyncPolicy::EveryN {
        events: 16,
        max_delay_ms: 2,
    });
    let store = Store::open(config).unwrap();
    let sub: Subscription<u64> = store.subscribe_with_capacity(Region::all(), 8).unwrap();
    let total = THREADS * PER_THREAD;
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let store = &store;
            s.spawn(move || {
                for n in 0..PER_THREAD {
                    store
                        .append(&coord(&format!("order:{t}")), PLACED, &n)
                        .unwrap();
                }
            });
        }
        let store = &store;
        let sub = &sub;
        let consumer = s.spawn(move || {
            let mut seen: Vec<u64> = Vec::new();
            let mut lags = 0;
            while (seen.len() as u64) < total {
                match sub.recv_timeout(Duration::from_secs(10)).unwrap() {
                    Some(Delivery::Event(e)) => seen.push(e.position()),
                    Some(Delivery::Lagged {
                        missed,
                        resume_from,
                    }) => {
                        lags += 1;
                        assert!(seen.last().is_none_or(|&p| p < resume_from));
                        let cursor = store.cursor::<u64>(Region::all(), resume_from).unwrap();
                        let caught: Vec<u64> = cursor
                            .take(missed as usize)
                            .map(|e| e.unwrap().position())
                            .collect();
                        assert_eq!(caught.len() as u64, missed);
                        seen.extend(caught);
                    }
                    None => panic!("stalled after {} events", seen.len()),
                }
                // A slow consumer: let the buffer overflow now and then.
                if seen.len().is_multiple_of(50) {
                    std::thread::sleep(Duration::from_millis(3));
                }
            }
            (seen, lags)
        });
        let (seen, lags) = consumer.join().unwrap();
        assert_eq!(seen, (0..total).collect::<Vec<_>>(), "after {lags} lags");
    });
}

#[test]
fn every_n_policy_delivers_when_the_background_sync_covers_the_event() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig::new(dir.path()).sync_policy(SyncPolicy::EveryN {
        events: 1_000,
        max_delay_ms: 20,
    });
    let store = Store::open(config).unwrap();
    let sub: Subscription<u64> = store.subscribe(Region::all()).unwrap();
    store.append(&coord("order:1"), PLACED, &1_u64).unwrap();
    let e = event(sub.recv_timeout(Duration::from_secs(10)).unwrap().unwrap());
    assert_eq!(e.payload, 1);
    assert!(store.stats().durable_events >= 1);
}
