//! A live consumer: one thread appends orders while the main thread prints
//! each durable `Placed` event as it arrives, then the store is closed and
//! the subscription ends on its own.
//!
//! A subscription's channel is bounded. A consumer that falls behind is told
//! how many events it missed and where to resume (`Delivery::Lagged`); this
//! one catches up with a cursor.
//!
//! Run: `cargo run -p batpak-examples --example subscription`

use std::time::Duration;

use batpak::prelude::*;
use batpak::{Delivery, Subscription};
use serde::{Deserialize, Serialize};

const PLACED: EventKind = EventKind::new(7, 1);
const NOTE: EventKind = EventKind::new(7, 9);

#[derive(Debug, Serialize, Deserialize)]
struct Placed {
    items: u32,
    total_cents: u64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(StoreConfig::new(dir.path()).subscription_capacity(64))?;
    let region = Region::entity_prefix("order:").kind(PLACED);
    let sub: Subscription<Placed> = store.subscribe(region.clone())?;

    std::thread::scope(|s| {
        let store = &store;
        let producer = s.spawn(
            move || -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
                for n in 0..20_u64 {
                    let order = Coordinate::new(format!("order:{n}"), "shop:acme")?;
                    store.append(
                        &order,
                        PLACED,
                        &Placed {
                            items: 1 + (n % 3) as u32,
                            total_cents: 1_000 + n,
                        },
                    )?;
                    // Not in the region: never delivered to this consumer.
                    store.append(&order, NOTE, &"gift wrap")?;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(())
            },
        );

        let mut received = 0;
        while received < 20 {
            match sub.recv_timeout(Duration::from_secs(5)) {
                Ok(Some(Delivery::Event(e))) => {
                    received += 1;
                    println!(
                        "position {:>3}  {}  {:?}",
                        e.position(),
                        e.header.coordinate,
                        e.payload
                    );
                }
                Ok(Some(Delivery::Lagged {
                    missed,
                    resume_from,
                })) => {
                    println!("fell behind by {missed}; catching up from {resume_from}");
                    let cursor = store.cursor::<Placed>(region.clone(), resume_from)?;
                    for e in cursor.take(missed as usize) {
                        let e = e?;
                        received += 1;
                        println!(
                            "position {:>3}  {}  {:?} (caught up)",
                            e.position(),
                            e.header.coordinate,
                            e.payload
                        );
                    }
                }
                Ok(None) => return Err("no event within 5 s".into()),
                Err(e) => return Err(e.into()),
            }
        }
        producer
            .join()
            .map_err(|_| "producer panicked")?
            .map_err(|e| e.to_string())?;
        Ok::<(), Box<dyn std::error::Error>>(())
    })?;

    store.close()?;
    // The store is gone: the subscription reports it is closed.
    println!("after close: {:?}", sub.recv().err());
    Ok(())
}
