//! A full re-read of the log, checked frame by frame, and the index held to
//! what the log says.
//!
//! The log is the source of truth; the index (built by a scan, or loaded
//! from a checkpoint) is derived from it and is checked entry by entry, so a
//! checkpoint altered consistently with its own checksum cannot pass.

use std::ops::ControlFlow;
use std::sync::Arc;

use super::Core;
use super::index::{Entry, FrameDamage, Index, StreamState};
use crate::event::Hash;
use crate::store::error::{Place, StoreError};
use crate::store::lock::read_lock;
use crate::store::report::{Damage, VerifyReport};

/// A finished verification: the report, and the index rebuilt from the log
/// (whole only when the log itself was undamaged).
pub(super) struct Verified {
    pub(super) report: VerifyReport,
    pub(super) rebuilt: Index,
}

impl Verified {
    /// True when the only damage is the index disagreeing with an intact
    /// log: the rebuilt index is then the right one.
    pub(super) fn only_the_index_is_wrong(&self) -> bool {
        matches!(
            self.report.damage,
            Some(Damage {
                at: Place::Index { .. },
                ..
            })
        )
    }
}

impl Core {
    /// Re-reads the whole log through the engine and rebuilds an index from
    /// it, checking every frame's length and CRC, every position, sequence
    /// and chain link, and each stream's last event against the head hash
    /// the live index holds (the only check that catches a rewritten last
    /// event, which no later link covers); then compares every entry, every
    /// stream's positions and the id lookup of the live index with the
    /// rebuilt one.
    pub(crate) fn verify(&self) -> Result<VerifyReport, StoreError> {
        self.verify_against_log().map(|v| v.report)
    }

    pub(super) fn verify_against_log(&self) -> Result<Verified, StoreError> {
        // Events indexed before the scan starts must all be found by it
        // (appends racing with the scan may add more). Heads sorted by
        // position to be met in scan order.
        let (live, heads) = {
            let index = read_lock(&self.index);
            let mut heads: Vec<(u64, Hash)> = index
                .streams
                .iter()
                .filter_map(|s| s.last_position().map(|p| (p, s.head)))
                .collect();
            heads.sort_unstable_by_key(|&(p, _)| p);
            (index.len(), heads)
        };
        let mut heads = heads.into_iter().peekable();
        let mut fresh = Index::default();
        if let Some(files) = &self.table_files {
            fresh.entries.set_files(Arc::clone(files));
        }
        let mut found: Option<FrameDamage> = None;
        let mut rewritten = 0;
        let mut live_read_wrong: Option<u64> = None;
        let scanned = self.engine.scan(&mut |loc, body| {
            let sealed = self.check_sealed_before(&mut fresh, loc.segment);
            rewritten += sealed.differed;
            live_read_wrong = live_read_wrong.or(sealed.live_index_read_it);
            let checked = fresh.apply_frame(loc, body).and_then(|()| {
                let position = fresh.len() - 1;
                match heads.next_if(|&(p, _)| p == position) {
                    Some((_, want)) => fresh.check_head(loc, want),
                    None => Ok(()),
                }
            });
            match checked {
                Ok(()) => ControlFlow::Continue(()),
                Err(d) => {
                    found = Some(d);
                    ControlFlow::Break(())
                }
            }
        });
        let damage = match scanned {
            Ok(_) => found.map(|d| {
                let at = self.place(d.loc);
                d.locate(at)
            }),
            Err(StoreError::Corrupt { at, reason }) => Some(Damage {
                at,
                coordinate: None,
                sequence: None,
                reason,
            }),
            Err(e) => return Err(e),
        };
        let damage = damage
            .or_else(|| {
                (fresh.len() < live).then(|| Damage {
                    at: Place::Index {
                        position: fresh.len(),
                    },
                    coordinate: None,
                    sequence: None,
                    reason: format!("the log holds {} events, the index {live}", fresh.len()),
                })
            })
            .or_else(|| {
                live_read_wrong.map(|position| Damage {
                    at: Place::Index { position },
                    coordinate: None,
                    sequence: None,
                    reason: "the index read this segment's entries from a sealed index that \
                             differs from the log (written anew from the log)"
                        .to_owned(),
                })
            })
            .or_else(|| self.compare_index(&fresh, live));
        if matches!(
            damage,
            Some(Damage {
                at: Place::Index { .. },
                ..
            })
        ) {
            self.distrust_index();
        }
        Ok(Verified {
            report: VerifyReport {
                events: fresh.len(),
                streams: fresh.streams.len() as u64,
                damage,
                sealed_indexes_rewritten: rewritten,
            },
            rebuilt: fresh,
        })
    }

    /// The first of the live index's first `live` entries that differs from
    /// the index rebuilt from the log, as damage at that index position.
    fn compare_index(&self, fresh: &Index, live: u64) -> Option<Damage> {
        let index = read_lock(&self.index);
        let stream_of = |ix: &Index, e: &Entry| {
            ix.streams
                .get(e.stream as usize)
                .map(|s| s.coordinate.clone())
        };
        let (mut mine, mut theirs) = (index.entries.cursor(), fresh.entries.cursor());
        for position in 0..live.min(fresh.len()) {
            let (Some(have), Some(want)) = (mine.get(position), theirs.get(position)) else {
                return Some(Damage {
                    at: Place::Index { position },
                    coordinate: None,
                    sequence: None,
                    reason: "the index's entry for this event cannot be read".to_owned(),
                });
            };
            let (have, want) = (&have, &want);
            let fields = [
                (have.id != want.id, "id"),
                (have.sequence != want.sequence, "sequence"),
                (have.kind != want.kind, "kind"),
                (have.cause != want.cause, "causation"),
                (have.flags != want.flags, "admission"),
                (
                    (have.segment, have.offset, have.len) != (want.segment, want.offset, want.len),
                    "place",
                ),
                (stream_of(&index, have) != stream_of(fresh, want), "stream"),
            ];
            if let Some((_, field)) = fields.iter().find(|(bad, _)| *bad) {
                return Some(Damage {
                    at: Place::Index { position },
                    coordinate: stream_of(fresh, want),
                    sequence: Some(want.sequence),
                    reason: format!(
                        "the index's {field} for this event disagrees with the log \
                         (a damaged or altered checkpoint)"
                    ),
                });
            }
        }
        Self::compare_positions(&index, fresh, live)
            .or_else(|| Self::compare_positions(fresh, &index, live))
            .or_else(|| {
                index
                    .by_id
                    .first_difference(&fresh.by_id, live)
                    .map(|position| Damage {
                        at: Place::Index { position },
                        coordinate: None,
                        sequence: None,
                        reason: "the index's id lookup disagrees with the log from this position \
                             (a damaged or altered checkpoint)"
                            .to_owned(),
                    })
            })
    }

    /// The first stream of `a` whose positions below `live` differ from
    /// those `b` holds for the same coordinate, as damage at the first
    /// position where they part. Selection reads a stream's positions, not
    /// its entries, so a list that lies would hide or lend events.
    fn compare_positions(a: &Index, b: &Index, live: u64) -> Option<Damage> {
        for stream in &a.streams {
            let listed = |index: &Index, s: &StreamState| {
                let positions = index.positions_from(s, 0)?;
                Ok::<_, StoreError>(positions.iter().take_while(|&p| p < live).collect())
            };
            let theirs = b
                .stream(&stream.coordinate)
                .map_or_else(|| Ok(Vec::new()), |s| listed(b, s));
            let (mine, theirs): (Vec<u64>, Vec<u64>) = match (listed(a, stream), theirs) {
                (Ok(mine), Ok(theirs)) => (mine, theirs),
                (Err(e), _) | (_, Err(e)) => {
                    return Some(Damage {
                        at: Place::Index {
                            position: stream.first_position().unwrap_or(0),
                        },
                        coordinate: Some(stream.coordinate.clone()),
                        sequence: None,
                        reason: format!("the index's positions of this stream cannot be read: {e}"),
                    });
                }
            };
            let mut theirs = theirs.into_iter();
            for (i, p) in (1..).zip(mine) {
                let other = theirs.next();
                if other != Some(p) {
                    return Some(Damage {
                        at: Place::Index {
                            position: other.map_or(p, |o| o.min(p)),
                        },
                        coordinate: Some(stream.coordinate.clone()),
                        sequence: Some(i),
                        reason: "the index's positions of this stream disagree with the log \
                                 (a damaged or altered checkpoint or sealed index)"
                            .to_owned(),
                    });
                }
            }
            if let Some(extra) = theirs.next() {
                return Some(Damage {
                    at: Place::Index { position: extra },
                    coordinate: Some(stream.coordinate.clone()),
                    sequence: None,
                    reason: "the index's positions of this stream disagree with the log \
                             (a damaged or altered checkpoint or sealed index)"
                        .to_owned(),
                });
            }
        }
        None
    }
}
