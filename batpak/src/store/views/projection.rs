//! Projections: folds of the log into state, cached and updated incrementally.
//!
//! A [`Projection`] names itself, carries a version and folds the events of
//! a [`Region`] into a state. [`Store::project`] starts from the cached state
//! when there is one and applies only the events after the position the
//! cache records; positions are gapless and increasing, so this is exact.
//!
//! Invariants:
//! - The cache key is blake3 of (name, version, declared kinds, region) in a
//!   stable encoding; the value is framed (format byte, version, next
//!   position, id of the last event folded in, blake3 checksum bound to the
//!   key). A value that fails any check is removed, rebuilt from position 0
//!   and reported in [`ProjectionReport::rebuilt`]; it is never trusted.
//! - The cache only ever holds state folded from **durable** events, so a
//!   persistent cache cannot outlive a crash that lost the events it saw.
//!   Events that are visible but not yet durable are folded in on every call
//!   (not cached) until they are.
//! - Events of kinds the projection does not declare are skipped using the
//!   index, never read or decoded.

use crate::event::{EventId, decode_payload, encode_payload};
use crate::projection::Projection;
use crate::region::{EntityFilter, KindFilter, Region};
use crate::store::cache::CacheKey;
use crate::store::core::Core;
use crate::store::error::StoreError;
use crate::store::facade::Store;

/// Why a cached projection state was discarded and rebuilt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RebuildReason {
    /// The entry is shorter than its fixed frame.
    Truncated {
        /// Bytes present.
        len: usize,
    },
    /// The entry's format byte is not one this build writes.
    UnknownFormat {
        /// The format byte found.
        found: u8,
    },
    /// The entry's checksum does not match its bytes.
    Checksum,
    /// The entry was written for another projection version.
    Version {
        /// The version recorded in the entry.
        found: u32,
    },
    /// The entry describes events this log does not hold (another store,
    /// or a tail lost in a crash).
    LogMismatch {
        /// The next position the entry recorded.
        position: u64,
    },
    /// The state bytes did not decode into the projection type.
    Decode,
}

/// What one [`Store::project_with_report`] call did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ProjectionReport {
    /// Events applied by this call.
    pub applied: u64,
    /// True when the call started from a cached state.
    pub from_cache: bool,
    /// Set when a cached entry was found damaged or stale and discarded.
    pub rebuilt: Option<RebuildReason>,
    /// Every event below this position is folded into the returned state.
    pub position: u64,
    /// The cache now holds the state folded up to this position (the durable
    /// watermark when the call began).
    pub cached_position: u64,
}

// Cache value layout (all integers little-endian); see FORMAT.md.
/// Format byte of cache values this build writes.
const ENTRY_FORMAT: u8 = 1;
const FORMAT_LEN: usize = 1;
const VERSION_LEN: usize = 4;
const NEXT_LEN: usize = 8;
const ID_LEN: usize = 16;
const CHECKSUM_LEN: usize = 32;
const VERSION_AT: usize = FORMAT_LEN;
const NEXT_AT: usize = VERSION_AT + VERSION_LEN;
const ID_AT: usize = NEXT_AT + NEXT_LEN;
const CHECKSUM_AT: usize = ID_AT + ID_LEN;
/// Bytes before the state.
const ENTRY_HEADER_LEN: usize = CHECKSUM_AT + CHECKSUM_LEN;

/// Events read and decoded per batch while folding: bounds memory for
/// long logs while keeping reads coalesced.
const FOLD_CHUNK: usize = 1024;

/// The cache key of projection `P` over `region`.
#[must_use]
pub fn projection_cache_key<P: Projection>(region: &Region) -> CacheKey {
    let mut h = blake3::Hasher::new();
    h.update(b"batpak.projection.key.v1");
    put_str(&mut h, P::NAME);
    h.update(&P::VERSION.to_le_bytes());
    match P::kinds() {
        None => {
            h.update(&[0]);
        }
        Some(kinds) => {
            h.update(&[1]);
            h.update(&(kinds.len() as u64).to_le_bytes());
            for k in kinds {
                h.update(&k.to_u32().to_le_bytes());
            }
        }
    }
    encode_region(&mut h, region);
    CacheKey(*h.finalize().as_bytes())
}

/// blake3 of the region's stable encoding (cursor files record it).
pub(crate) fn region_fingerprint(region: &Region) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(b"batpak.region.v1");
    encode_region(&mut h, region);
    *h.finalize().as_bytes()
}

fn put_str(h: &mut blake3::Hasher, s: &str) {
    h.update(&(s.len() as u64).to_le_bytes());
    h.update(s.as_bytes());
}

fn put_range(h: &mut blake3::Hasher, range: Option<(u64, u64)>) {
    match range {
        None => {
            h.update(&[0]);
        }
        Some((a, b)) => {
            h.update(&[1]);
            h.update(&a.to_le_bytes());
            h.update(&b.to_le_bytes());
        }
    }
}

/// A stable, unambiguous encoding of a region (tags and lengths, no
/// `Debug` output, so a field rename cannot change a key).
fn encode_region(h: &mut blake3::Hasher, region: &Region) {
    match region.entity_filter() {
        EntityFilter::Any => {
            h.update(&[0]);
        }
        EntityFilter::Exact(e) => {
            h.update(&[1]);
            put_str(h, e);
        }
        EntityFilter::Prefix(p) => {
            h.update(&[2]);
            put_str(h, p);
        }
    }
    match region.scope_filter() {
        None => {
            h.update(&[0]);
        }
        Some(s) => {
            h.update(&[1]);
            put_str(h, s);
        }
    }
    h.update(&(region.kind_filters().len() as u64).to_le_bytes());
    for k in region.kind_filters() {
        match k {
            KindFilter::Exact(kind) => {
                h.update(&[0]);
                h.update(&kind.to_u32().to_le_bytes());
            }
            KindFilter::Category(c) => {
                h.update(&[1]);
                h.update(&u32::from(*c).to_le_bytes());
            }
        }
    }
    put_range(h, region.sequence_range());
    put_range(h, region.position_range());
    h.update(&[region.admission_filter().key_byte()]);
}

fn checksum(key: &CacheKey, head: &[u8], state: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(&key.0);
    h.update(head);
    h.update(state);
    *h.finalize().as_bytes()
}

fn encode_entry(key: &CacheKey, version: u32, next: u64, last: EventId, state: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ENTRY_HEADER_LEN + state.len());
    out.push(ENTRY_FORMAT);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&next.to_le_bytes());
    out.extend_from_slice(&last.as_u128().to_le_bytes());
    let sum = checksum(key, &out, state);
    out.extend_from_slice(&sum);
    out.extend_from_slice(state);
    out
}

fn field<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = bytes.get(at..at + N) {
        out.copy_from_slice(src);
    }
    out
}

/// The fold, reading through the core's API.
trait Fold {
    fn decode_entry<P: Projection>(
        &self,
        key: &CacheKey,
        bytes: &[u8],
    ) -> Result<(P, u64), RebuildReason>;
    fn fold<P: Projection>(
        &self,
        state: &mut P,
        region: &Region,
        from: u64,
        to: u64,
    ) -> Result<u64, StoreError>;
}

impl Fold for Core {
    /// Checks and decodes a cached entry: the state and the next position.
    fn decode_entry<P: Projection>(
        &self,
        key: &CacheKey,
        bytes: &[u8],
    ) -> Result<(P, u64), RebuildReason> {
        if bytes.len() < ENTRY_HEADER_LEN {
            return Err(RebuildReason::Truncated { len: bytes.len() });
        }
        let format = bytes.first().copied().unwrap_or(0);
        if format != ENTRY_FORMAT {
            return Err(RebuildReason::UnknownFormat { found: format });
        }
        let (head, rest) = bytes.split_at(CHECKSUM_AT);
        let (sum, state) = rest.split_at(CHECKSUM_LEN);
        if checksum(key, head, state) != sum {
            return Err(RebuildReason::Checksum);
        }
        let version = u32::from_le_bytes(field(bytes, VERSION_AT));
        if version != P::VERSION {
            return Err(RebuildReason::Version { found: version });
        }
        let next = u64::from_le_bytes(field(bytes, NEXT_AT));
        let last = EventId::from_u128(u128::from_le_bytes(field(bytes, ID_AT)));
        if next > 0 && self.id_at(next - 1) != Some(last) {
            return Err(RebuildReason::LogMismatch { position: next });
        }
        let state = decode_payload::<P>(state).map_err(|_| RebuildReason::Decode)?;
        Ok((state, next))
    }

    /// Applies every selected event in `[from, to)` to `state`.
    fn fold<P: Projection>(
        &self,
        state: &mut P,
        region: &Region,
        from: u64,
        to: u64,
    ) -> Result<u64, StoreError> {
        let positions = self.select_between(region, P::kinds(), from, to)?;
        let mut applied = 0;
        for chunk in positions.chunks(FOLD_CHUNK) {
            for event in self.read_events::<P::Event>(chunk)? {
                state.apply(&event);
                applied += 1;
            }
        }
        Ok(applied)
    }
}

impl Store {
    /// Folds the events of `region` into projection `P`, starting from the
    /// cached state and applying only newer events.
    ///
    /// # Errors
    /// [`StoreError::InvalidRegion`] for a region that can never match;
    /// [`StoreError::Codec`] when a selected event's payload does not decode
    /// as `P::Event`; read and cache errors.
    pub fn project<P: Projection>(&self, region: &Region) -> Result<P, StoreError> {
        self.project_with_report::<P>(region)
            .map(|(state, _)| state)
    }

    /// As [`Store::project`], and says what it did: how many events were
    /// applied, whether it started from the cache, and whether a damaged or
    /// stale cache entry was discarded (with the reason).
    ///
    /// # Errors
    /// As [`Store::project`].
    pub fn project_with_report<P: Projection>(
        &self,
        region: &Region,
    ) -> Result<(P, ProjectionReport), StoreError> {
        let _span = crate::trace::span!(
            DEBUG,
            "project",
            projection = std::any::type_name::<P>(),
            applied = ::tracing::field::Empty,
            from_cache = ::tracing::field::Empty,
        );
        let projected = self.fold_region::<P>(region);
        crate::trace::record!(_span, outcome = crate::trace::outcome(&projected));
        #[cfg(feature = "tracing")]
        if let Ok((_, report)) = &projected {
            crate::trace::record!(
                _span,
                applied = report.applied,
                from_cache = report.from_cache
            );
        }
        projected
    }

    /// [`Store::project_with_report`] without its span.
    fn fold_region<P: Projection>(
        &self,
        region: &Region,
    ) -> Result<(P, ProjectionReport), StoreError> {
        region.check()?;
        let core = &*self.core;
        let cache = &self.cache;
        let key = projection_cache_key::<P>(region);
        let mut report = ProjectionReport::default();
        // Read the watermarks before the cache: the cache never records more
        // than the durable watermark of the call that wrote it.
        let durable = core.durable();
        let end = core.len();
        let (mut state, mut next) = match cache.get(&key)? {
            None => (P::default(), 0),
            Some(bytes) => match core.decode_entry::<P>(&key, &bytes) {
                Ok((state, next)) if next <= end => {
                    report.from_cache = true;
                    (state, next)
                }
                Ok((_, next)) => {
                    cache.remove(&key)?;
                    report.rebuilt = Some(RebuildReason::LogMismatch { position: next });
                    (P::default(), 0)
                }
                Err(reason) => {
                    cache.remove(&key)?;
                    report.rebuilt = Some(reason);
                    (P::default(), 0)
                }
            },
        };
        if next < durable {
            report.applied += core.fold(&mut state, region, next, durable)?;
            next = durable;
            let bytes = encode_payload(&state)?;
            let last = core.id_at(next - 1).unwrap_or(EventId::from_u128(0));
            cache.put(&key, &encode_entry(&key, P::VERSION, next, last, &bytes))?;
        }
        report.cached_position = next;
        if next < end {
            report.applied += core.fold(&mut state, region, next, end)?;
            next = end;
        }
        report.position = next;
        Ok((state, report))
    }
}
