//! A full re-read of the log, checked frame by frame against a fresh index.

use std::ops::ControlFlow;

use super::Core;
use super::index::{FrameDamage, Index};
use crate::event::Hash;
use crate::store::error::{Place, StoreError};
use crate::store::lock::read_lock;
use crate::store::report::{Damage, VerifyReport};

impl Core {
    /// Re-reads the whole log through the engine and rebuilds an index from
    /// it, checking every frame's length and CRC, every position, sequence
    /// and chain link; then checks each stream's last event against the
    /// head hash the live index holds (the only check that catches a
    /// rewritten last event, which no later link covers).
    pub(crate) fn verify(&self) -> Result<VerifyReport, StoreError> {
        // Events indexed before the scan starts must all be found by it
        // (appends racing with the scan may add more). Heads sorted by
        // position to be met in scan order.
        let (live, heads) = {
            let index = read_lock(&self.index);
            let mut heads: Vec<(u64, Hash)> = index
                .streams
                .iter()
                .filter_map(|s| s.positions.last().map(|&p| (p, s.head)))
                .collect();
            heads.sort_unstable_by_key(|&(p, _)| p);
            (index.len(), heads)
        };
        let mut heads = heads.into_iter().peekable();
        let mut fresh = Index::default();
        let mut found: Option<FrameDamage> = None;
        let scanned = self.engine.scan(&mut |loc, body| {
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
        let damage = damage.or_else(|| {
            (fresh.len() < live).then(|| Damage {
                at: Place::Index {
                    position: fresh.len(),
                },
                coordinate: None,
                sequence: None,
                reason: format!("the log holds {} events, the index {live}", fresh.len()),
            })
        });
        Ok(VerifyReport {
            events: fresh.len(),
            streams: fresh.streams.len() as u64,
            damage,
        })
    }
}
