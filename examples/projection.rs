//! A read model across many entities: revenue per shop (scope), kept
//! current by an incremental projection.
//!
//! Orders in three shops are placed and paid; only `Paid` events count. The
//! first `project` folds everything; later calls apply only the events
//! appended since (see `applied`), and other kinds are skipped via the index
//! without being decoded.
//!
//! Run: `cargo run -p batpak-examples --example projection`

use std::collections::BTreeMap;

use batpak::prelude::*;
use serde::{Deserialize, Serialize};

const PLACED: EventKind = EventKind::new(7, 1);
const PAID: EventKind = EventKind::new(7, 2);

#[derive(Serialize, Deserialize)]
struct Placed {
    items: u32,
}

#[derive(Serialize, Deserialize)]
struct Paid {
    amount_cents: u64,
}

/// Revenue per shop, from `Paid` events only.
#[derive(Debug, Default, Serialize, Deserialize)]
struct RevenueByShop {
    cents: BTreeMap<String, u64>,
    payments: u64,
}

impl Projection for RevenueByShop {
    type Event = Paid;
    const NAME: &'static str = "revenue-by-shop";
    const VERSION: u32 = 1;

    fn kinds() -> Option<&'static [EventKind]> {
        Some(&[PAID])
    }

    fn apply(&mut self, event: &StoredEvent<Paid>) {
        let shop = event.header.coordinate.scope().to_owned();
        *self.cents.entry(shop).or_default() += event.payload.amount_cents;
        self.payments += 1;
    }
}

fn trade(store: &Store, orders: std::ops::Range<u64>) -> Result<(), Box<dyn std::error::Error>> {
    let shops = ["shop:acme", "shop:globex", "shop:initech"];
    for n in orders {
        let shop = shops[(n % 3) as usize];
        let order = Coordinate::new(format!("order:{n}"), shop)?;
        store.append(
            &order,
            PLACED,
            &Placed {
                items: 1 + (n % 4) as u32,
            },
        )?;
        store.append(
            &order,
            PAID,
            &Paid {
                amount_cents: 500 + 25 * n,
            },
        )?;
    }
    store.sync()?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    // Buffered appends, one sync per batch: the projection cache only ever
    // holds state folded from durable events.
    let store = Store::open(StoreConfig::new(dir.path()).sync_policy(SyncPolicy::Manual))?;
    let orders = Region::entity_prefix("order:");

    trade(&store, 0..300)?;
    let (model, report) = store.project_with_report::<RevenueByShop>(&orders)?;
    println!(
        "after 300 orders: applied {} events (from cache: {})",
        report.applied, report.from_cache
    );
    for (shop, cents) in &model.cents {
        println!("  {shop:<14} {:>8.2}", *cents as f64 / 100.0);
    }

    trade(&store, 300..310)?;
    let (model, report) = store.project_with_report::<RevenueByShop>(&orders)?;
    println!(
        "after 10 more:    applied {} events (from cache: {}), {} payments in total",
        report.applied, report.from_cache, model.payments
    );
    for (shop, cents) in &model.cents {
        println!("  {shop:<14} {:>8.2}", *cents as f64 / 100.0);
    }

    // One shop only: its own cache entry, its own incremental state.
    let acme = store.project::<RevenueByShop>(&orders.clone().scope("shop:acme"))?;
    println!(
        "acme alone: {:.2}",
        acme.cents.values().sum::<u64>() as f64 / 100.0
    );
    store.close()?;
    Ok(())
}
