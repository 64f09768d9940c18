//! The API every event log shares, embedded or on PostgreSQL, as a trait
//! the store tests are written against, and the PostgreSQL scratch logs
//! they run on.
//!
//! `Store` and `PgStore` have the same methods with the same types and
//! errors (`PgStore`'s `head` and counters ask a server, so they return a
//! `Result`); the trait only names them once, so a test body written
//! against it runs unchanged on the segment, redb and LMDB engines and on
//! PostgreSQL.
#![allow(dead_code)]

use batpak::{
    AppendOptions, AppendReceipt, Coordinate, EventHeader, EventId, EventKind, MachineStore,
    Projection, ProjectionReport, Region, Store, StoreError, StoredEvent, StreamHead, VerifyReport,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// What a test may ask of any event log.
pub trait SharedLog: MachineStore<Error = StoreError> + Sync {
    fn append<P: Serialize>(
        &self,
        c: &Coordinate,
        k: EventKind,
        p: &P,
    ) -> Result<AppendReceipt, StoreError>;
    fn append_with<P: Serialize>(
        &self,
        c: &Coordinate,
        k: EventKind,
        p: &P,
        o: AppendOptions,
    ) -> Result<AppendReceipt, StoreError>;
    fn append_batch<P: Serialize>(
        &self,
        c: &Coordinate,
        events: &[(EventKind, P)],
        o: AppendOptions,
    ) -> Result<Vec<AppendReceipt>, StoreError>;
    fn get<P: DeserializeOwned>(&self, id: EventId) -> Result<Option<StoredEvent<P>>, StoreError>;
    fn stream<P: DeserializeOwned>(
        &self,
        c: &Coordinate,
    ) -> Result<Vec<StoredEvent<P>>, StoreError>;
    fn head(&self, c: &Coordinate) -> StreamHead;
    fn query<P: DeserializeOwned>(&self, r: &Region) -> Result<Vec<StoredEvent<P>>, StoreError>;
    fn query_headers(&self, r: &Region) -> Result<Vec<EventHeader>, StoreError>;
    fn walk_causation(&self, id: EventId) -> Result<Vec<EventHeader>, StoreError>;
    fn events(&self) -> u64;
    fn verify(&self) -> Result<VerifyReport, StoreError>;
    fn project_with_report<P: Projection>(
        &self,
        r: &Region,
    ) -> Result<(P, ProjectionReport), StoreError>;
    /// Up to `max` events a cursor over `r` from `from` returns now.
    fn cursor_read<P: DeserializeOwned>(
        &self,
        r: Region,
        from: u64,
        max: usize,
    ) -> Vec<StoredEvent<P>>;
    /// A subscription to `r` from now, as a receive with a timeout.
    fn subscription<P: DeserializeOwned + Send + 'static>(&self, r: Region) -> Receive<P>;
}

/// A subscription's `recv_timeout`.
pub type Receive<P> = Box<dyn Fn(std::time::Duration) -> Option<batpak::Delivery<P>>>;

macro_rules! delegate {
    ($ty:ty, head: |$s:ident, $c:ident| $head:expr, events: |$e:ident| $events:expr) => {
        impl SharedLog for $ty {
            fn append<P: Serialize>(
                &self,
                c: &Coordinate,
                k: EventKind,
                p: &P,
            ) -> Result<AppendReceipt, StoreError> {
                <$ty>::append(self, c, k, p)
            }
            fn append_with<P: Serialize>(
                &self,
                c: &Coordinate,
                k: EventKind,
                p: &P,
                o: AppendOptions,
            ) -> Result<AppendReceipt, StoreError> {
                <$ty>::append_with(self, c, k, p, o)
            }
            fn append_batch<P: Serialize>(
                &self,
                c: &Coordinate,
                events: &[(EventKind, P)],
                o: AppendOptions,
            ) -> Result<Vec<AppendReceipt>, StoreError> {
                <$ty>::append_batch(self, c, events, o)
            }
            fn get<P: DeserializeOwned>(
                &self,
                id: EventId,
            ) -> Result<Option<StoredEvent<P>>, StoreError> {
                <$ty>::get(self, id)
            }
            fn stream<P: DeserializeOwned>(
                &self,
                c: &Coordinate,
            ) -> Result<Vec<StoredEvent<P>>, StoreError> {
                <$ty>::stream(self, c)
            }
            fn head(&$s, $c: &Coordinate) -> StreamHead {
                $head
            }
            fn query<P: DeserializeOwned>(
                &self,
                r: &Region,
            ) -> Result<Vec<StoredEvent<P>>, StoreError> {
                <$ty>::query(self, r)
            }
            fn query_headers(&self, r: &Region) -> Result<Vec<EventHeader>, StoreError> {
                <$ty>::query_headers(self, r)
            }
            fn walk_causation(&self, id: EventId) -> Result<Vec<EventHeader>, StoreError> {
                <$ty>::walk_causation(self, id)
            }
            fn events(&$e) -> u64 {
                $events
            }
            fn verify(&self) -> Result<VerifyReport, StoreError> {
                <$ty>::verify(self)
            }
            fn project_with_report<P: Projection>(
                &self,
                r: &Region,
            ) -> Result<(P, ProjectionReport), StoreError> {
                <$ty>::project_with_report(self, r)
            }
            fn cursor_read<P: DeserializeOwned>(
                &self,
                r: Region,
                from: u64,
                max: usize,
            ) -> Vec<StoredEvent<P>> {
                let mut cursor = <$ty>::cursor::<P>(self, r, from).unwrap();
                let mut out = Vec::new();
                while out.len() < max {
                    match cursor.try_next().unwrap() {
                        Some(event) => out.push(event),
                        None => break,
                    }
                }
                out
            }
            fn subscription<P: DeserializeOwned + Send + 'static>(&self, r: Region) -> Receive<P> {
                let sub = <$ty>::subscribe::<P>(self, r).unwrap();
                Box::new(move |timeout| sub.recv_timeout(timeout).unwrap())
            }
        }
    };
}

delegate!(Store, head: |self, c| Store::head(self, c), events: |self| self.stats().events);
#[cfg(feature = "postgres")]
delegate!(
    batpak::PgStore,
    head: |self, c| batpak::PgStore::head(self, c).unwrap(),
    events: |self| self.event_count().unwrap()
);

/// The environment variable naming the test server (set by
/// `scripts/with-postgres.sh`, which `.ci/run` uses).
pub const PG_URL: &str = "BATPAK_PG_URL";

/// Says that a PostgreSQL test did not run and how to run it. Written to
/// stderr directly, so the test harness's capture of passing tests cannot
/// hide it.
pub fn skipped(test: &str, why: &str) {
    use std::io::Write;
    // One write, so the line is not interleaved with the harness's output.
    let line = format!(
        "\nSKIPPED {test}: {why}. Run the PostgreSQL tests with a throw-away server: \
         scripts/with-postgres.sh cargo test -p batpak-tests --features postgres\n"
    );
    let _ = std::io::stderr().write_all(line.as_bytes());
}

#[cfg(feature = "postgres")]
pub use pg::*;

#[cfg(feature = "postgres")]
mod pg {
    use std::sync::atomic::{AtomicU64, Ordering};

    use batpak::{PgConfig, PgStore};

    use super::{PG_URL, skipped};

    /// A log in a schema of its own, dropped with this value, so tests run
    /// in parallel against one server.
    pub struct PgScratch {
        pub store: PgStore,
        pub url: String,
    }

    impl std::ops::Deref for PgScratch {
        type Target = PgStore;
        fn deref(&self) -> &PgStore {
            &self.store
        }
    }

    impl Drop for PgScratch {
        fn drop(&mut self) {
            let _ = self.store.clone().drop_schema();
        }
    }

    /// A fresh log, or `None` (with a message) when no server is configured.
    /// A configured server that cannot be reached fails the test: in CI the
    /// PostgreSQL tests always run.
    pub fn fresh_pg(test: &str) -> Option<PgScratch> {
        let Ok(url) = std::env::var(PG_URL) else {
            skipped(test, &format!("{PG_URL} is not set"));
            return None;
        };
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let schema = format!(
            "t_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let store = PgStore::connect(PgConfig::new(url.clone()).schema(schema))
            .unwrap_or_else(|e| panic!("{PG_URL}={url} is set but the server is unusable: {e}"));
        Some(PgScratch { store, url })
    }
}
