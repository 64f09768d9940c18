//! What a projection is: a fold of events into a state.
//!
//! Only the trait lives here, below the machine layer and the store, so a
//! machine's state projection and any store (the embedded one, or another
//! core behind the same seam) share one definition. Caching and incremental
//! folding are the store's business: this file must never read or cache.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::event::{EventKind, StoredEvent};

/// A fold of events into a state, cached by the store between calls.
///
/// ```
/// use batpak::prelude::*;
/// use serde::{Deserialize, Serialize};
///
/// const SOLD: EventKind = EventKind::new(3, 1);
///
/// #[derive(Default, Serialize, Deserialize)]
/// struct Revenue { cents: u64 }
///
/// impl Projection for Revenue {
///     type Event = u64;
///     const NAME: &'static str = "revenue";
///     const VERSION: u32 = 1;
///     fn kinds() -> Option<&'static [EventKind]> { Some(&[SOLD]) }
///     fn apply(&mut self, event: &StoredEvent<u64>) { self.cents += event.payload; }
/// }
///
/// let dir = tempfile::tempdir()?;
/// let store = Store::open(StoreConfig::new(dir.path()))?;
/// let shop = Coordinate::new("till:1", "shop:acme")?;
/// store.append(&shop, SOLD, &250_u64)?;
/// store.append(&shop, SOLD, &100_u64)?;
/// assert_eq!(store.project::<Revenue>(&Region::all())?.cents, 350);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Projection: Default + Serialize + DeserializeOwned {
    /// The payload type of the events this projection folds.
    type Event: DeserializeOwned;
    /// A name unique among the projections of one store (part of the cache key).
    const NAME: &'static str;
    /// Bump when `apply` or the state's shape changes: cached states of other
    /// versions are then ignored and the projection is rebuilt.
    const VERSION: u32;

    /// The kinds this projection folds; `None` (the default) means every kind
    /// the region selects. Other kinds are skipped without being decoded.
    #[must_use]
    fn kinds() -> Option<&'static [EventKind]> {
        None
    }

    /// Folds one event into the state.
    fn apply(&mut self, event: &StoredEvent<Self::Event>);
}
