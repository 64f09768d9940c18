//! Event identifiers: 128-bit, unique, and ordered by creation time.
//!
//! Layout (most significant first): 48 bits of Unix milliseconds, 16 bits
//! drawn once per process, 64 bits of a process-wide counter. Within one
//! process ids strictly increase (a call that returns before another starts
//! gets the smaller id, even if the wall clock steps back: the millisecond
//! field never decreases); across processes they sort by millisecond.
//! Ids are encoded as 16 big-endian bytes (msgpack `bin`), so byte order is
//! time order. An id must never repeat or go backwards within a process.

use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A unique, time-ordered event identifier.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(u128);

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The largest millisecond value any id of this process has used; ids never
/// go below it, so a clock stepping back cannot reorder ids.
static LAST_MILLIS: AtomicU64 = AtomicU64::new(0);

/// The id's time field is 48 bits wide (enough until the year 10889).
const MILLIS_MASK: u64 = 0xFFFF_FFFF_FFFF;

fn process_tag() -> u16 {
    static TAG: OnceLock<u16> = OnceLock::new();
    *TAG.get_or_init(|| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let mut hasher = blake3::Hasher::new();
        hasher.update(&nanos.to_le_bytes());
        hasher.update(&std::process::id().to_le_bytes());
        let bytes = hasher.finalize();
        u16::from_le_bytes([bytes.as_bytes()[0], bytes.as_bytes()[1]])
    })
}

impl EventId {
    /// A fresh id: later than every id this process made before.
    #[must_use]
    pub fn generate() -> Self {
        Self::generate_at(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
        )
    }

    /// [`EventId::generate`] with the clock already read (`since_epoch`), so
    /// the append path reads it once for the ids and the timestamp.
    pub(crate) fn generate_at(since_epoch: std::time::Duration) -> Self {
        let now = u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX) & MILLIS_MASK;
        // SeqCst read-modify-writes: a later call sees every earlier call's
        // clock and counter, so its id compares greater.
        let millis = LAST_MILLIS.fetch_max(now, Ordering::SeqCst).max(now);
        let count = COUNTER.fetch_add(1, Ordering::SeqCst);
        let time = u128::from(millis) << 80;
        Self(time | (u128::from(process_tag()) << 64) | u128::from(count))
    }

    /// Wraps a raw value (for ids read from elsewhere).
    #[must_use]
    pub const fn from_u128(value: u128) -> Self {
        Self(value)
    }

    /// The raw value.
    #[must_use]
    pub const fn as_u128(self) -> u128 {
        self.0
    }

    /// Milliseconds since the Unix epoch when the id was made.
    #[must_use]
    pub const fn millis(self) -> u64 {
        (self.0 >> 80) as u64
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventId({:032x})", self.0)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl Serialize for EventId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0.to_be_bytes())
    }
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bytes: [u8; 16] = super::hash::fixed_bytes(deserializer)?;
        Ok(Self(u128::from_be_bytes(bytes)))
    }
}
