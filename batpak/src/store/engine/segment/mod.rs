//! The default log engine: numbered, append-only segment files.
//!
//! Layout and recovery rules are in `batpak/FORMAT.md`; [`mod@format`] is the
//! one place that encodes them. The engine stores frame bodies in position
//! order and hands them back; it never interprets a body beyond its framing
//! prefix (batch count), so all event semantics stay in the core. Every file
//! operation goes through the store's `FileSystem`, the seam for crash-model
//! and I/O-error tests.
//!
//! Concurrency: appends are serialized by the `active` mutex (the core also
//! serializes them); readers use positional reads on shared file handles and
//! only take the mutex for bytes still in the write buffer.
//!
//! Open files: the active segment stays open; others are opened when read,
//! through a bounded cache ([`handles`]), so a store of any number of
//! segments needs a bounded number of descriptors. Open itself reads each
//! segment whole and keeps no handle.

mod crc_range;
pub(crate) mod format;
mod handles;
pub(crate) mod reader;
pub(crate) mod recovery;
mod sealed;
pub(crate) mod writer;

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

pub(crate) use self::format::sealed_index_file_name;
use self::format::{
    FRAME_PREFIX_LEN, SEGMENT_HEADER_LEN, SegmentHeader, decode_segment_header, max_body_len,
    parse_segment_file_name, segment_file_name,
};
use self::handles::Handles;
use self::reader::{checked_body, frame_len, read_at};
use self::recovery::{FoundFrame, SegmentScan, scan_segment};
use self::sealed::load_sealed_prefix;
pub(crate) use self::sealed::write_sealed_index_in;
use self::writer::{Active, FLUSH_THRESHOLD, Reserve, create_segment, reopen_segment, sync_dir};
use super::{
    BodyBatch, BodyVisitor, CheckpointExtent, CheckpointVisitor, FrameVisitor, Loc, LogEngine,
    OpenReport, OpenVisitors,
};
use crate::store::config::{MIN_OPEN_SEGMENTS, StoreConfig};
use crate::store::error::{Place, StoreError};
use crate::store::fs::{FileSystem, FsFile, replace_atomically};
use crate::store::lock::{lock, read_lock, write_lock};

/// Name of the index checkpoint file inside the store directory.
pub(crate) const CHECKPOINT_FILE: &str = "index.ckpt";
/// Name of the file beside the checkpoint holding the streams' positions in
/// sealed segments (read by the index one stream at a time).
pub(crate) const POSITIONS_FILE: &str = "index.positions";
/// Largest contiguous run read with one positional read.
const MAX_RUN_BYTES: u64 = 8 * 1024 * 1024;

/// Segment files in a directory.
#[derive(Debug)]
pub(crate) struct SegmentEngine {
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
    max_body_len: u32,
    segment_max: u64,
    /// Valid length of segment `n` at index `n - 1`: exact for every
    /// segment but the active one (see `active_os_len`).
    lens: RwLock<Vec<u64>>,
    /// The active segment's handle and a bounded cache of others'.
    handles: Handles,
    active: Mutex<Option<Active>>,
    active_segment: AtomicU32,
    active_os_len: AtomicU64,
    poisoned: AtomicBool,
}

impl SegmentEngine {
    /// Opens (and, when `writable`, repairs) the segments in `dir`, calling
    /// `visit` for every stored body in position order; `Break` when the
    /// visitor refused a frame (nothing after it was visited or repaired).
    ///
    /// When a checkpoint file exists and the extent it records
    /// (`checkpoint_extent`) is the log's, or a prefix of it ending at a
    /// frame boundary, `try_checkpoint` gets its bytes and that extent; if
    /// it accepts them, only what lies past that extent is indexed below.
    /// Then each full segment (every one but the last) not yet indexed is
    /// offered to `try_sealed` with its sealed index, in order, until one is
    /// refused or has none; the scan starts there.
    pub(crate) fn open(
        fs: Arc<dyn FileSystem>,
        config: &StoreConfig,
        writable: bool,
        visitors: OpenVisitors<'_>,
    ) -> Result<ControlFlow<(), (Self, OpenReport)>, StoreError> {
        let OpenVisitors {
            checkpoint_extent,
            try_checkpoint,
            try_sealed,
            visit,
        } = visitors;
        let dir = config.dir.clone();
        let numbers = list_segments(&*fs, &dir)?;
        let mut report = OpenReport::default();
        // One buffer for every file read below (see `load_sealed_prefix`).
        let mut bytes = Vec::new();
        let mut done = Done::default();
        match Self::offer_checkpoint(
            &*fs,
            config,
            &numbers,
            checkpoint_extent,
            try_checkpoint,
            &mut bytes,
        )? {
            Offered::Whole(lens) => {
                report.from_checkpoint = true;
                let engine = Self::reopen(fs, config, writable, lens, 0, 0)?;
                return Ok(ControlFlow::Continue((engine, report)));
            }
            Offered::AtSegmentStart { lens, first } => {
                // Its last segment is indexed as any after it is: through its
                // sealed index when it has one.
                report.from_checkpoint = true;
                done = Done {
                    lens,
                    next_first: first,
                    last_frames: 0,
                };
            }
            Offered::Prefix {
                mut lens,
                from,
                scan,
                first,
            } => {
                report.from_checkpoint = true;
                // The checkpoint's last segment, from where it ended.
                let n = u32::try_from(lens.len() + 1).unwrap_or(u32::MAX);
                let ControlFlow::Continue(scanned) = Self::index_scanned(
                    &*fs,
                    &dir,
                    writable,
                    n,
                    scan,
                    &bytes,
                    (from, first),
                    visit,
                    &mut report,
                )?
                else {
                    return Ok(ControlFlow::Break(()));
                };
                lens.push(scanned.valid_end);
                done = Done {
                    lens,
                    next_first: scanned.next_first,
                    last_frames: scanned.frames,
                };
            }
            Offered::Refused if writable => {
                // Durably, before anything below repairs the log: a
                // checkpoint that came back after a power loss could name
                // an extent that a repair cut and new appends grew again.
                // The positions file goes too: only a checkpoint names it.
                let removed = remove_file_in(&*fs, &dir, CHECKPOINT_FILE)?;
                if remove_file_in(&*fs, &dir, POSITIONS_FILE)? || removed {
                    sync_dir(&*fs, &dir)?;
                }
            }
            Offered::Refused => {}
        }
        let Done {
            mut lens,
            mut next_first,
            mut last_frames,
        } = done;
        let sealed = load_sealed_prefix(
            &*fs,
            &dir,
            &numbers,
            lens.len(),
            next_loc,
            try_sealed,
            &mut bytes,
        )?;
        for &(len, events) in &sealed {
            lens.push(len);
            next_first += events;
            last_frames = u64::from(len > SEGMENT_HEADER_LEN as u64);
        }
        report.sealed_loaded = sealed.len() as u64;
        for (i, &n) in numbers.iter().enumerate().skip(lens.len()) {
            let expected = u32::try_from(i + 1).unwrap_or(u32::MAX);
            if n != expected {
                return Err(StoreError::corrupt(
                    Place::segment(expected, 0),
                    "segment file is missing (segment numbers must be contiguous from 1)",
                ));
            }
            let path = dir.join(segment_file_name(n));
            fs.read_into(&path, &mut bytes)
                .map_err(|e| StoreError::io("read", &path, e))?;
            let is_last = i + 1 == numbers.len();
            let scan = scan_segment(&bytes, n, is_last, config.truncate_damaged_tail)?;
            if matches!(scan, SegmentScan::TornHeader) {
                report.truncated_bytes += bytes.len() as u64;
                if writable {
                    fs.remove(&path)
                        .map_err(|e| StoreError::io("remove torn segment", &path, e))?;
                    sync_dir(&*fs, &dir)?;
                }
                continue;
            }
            let ControlFlow::Continue(scanned) = Self::index_scanned(
                &*fs,
                &dir,
                writable,
                n,
                scan,
                &bytes,
                (SEGMENT_HEADER_LEN as u64, next_first),
                visit,
                &mut report,
            )?
            else {
                return Ok(ControlFlow::Break(()));
            };
            next_first = scanned.next_first;
            last_frames = scanned.frames;
            lens.push(scanned.valid_end);
        }
        let engine = Self::reopen(fs, config, writable, lens, next_first, last_frames)?;
        Ok(ControlFlow::Continue((engine, report)))
    }

    /// Makes the last segment active again (or, in an empty store, creates
    /// the first) when `writable`, and assembles the engine over `lens`.
    fn reopen(
        fs: Arc<dyn FileSystem>,
        config: &StoreConfig,
        writable: bool,
        mut lens: Vec<u64>,
        next_first: u64,
        last_frames: u64,
    ) -> Result<Self, StoreError> {
        let dir = &config.dir;
        let max_body = max_body_len(config.max_payload_bytes);
        let reserve = Reserve::for_segments(config.segment_max_bytes);
        let mut active = None;
        if writable {
            let mut a = match lens.last() {
                // After removing a torn new segment, the one before it is
                // active again: open never needs to write a new file.
                Some(&len) => {
                    let n = u32::try_from(lens.len()).unwrap_or(u32::MAX);
                    let path = dir.join(segment_file_name(n));
                    let frames = last_frames.max(u64::from(len > SEGMENT_HEADER_LEN as u64));
                    reopen_segment(&*fs, path, n, len, frames, reserve)?
                }
                _ => {
                    let n = u32::try_from(lens.len() + 1).unwrap_or(u32::MAX);
                    let a = create_segment(&*fs, dir, n, next_first, max_body, reserve)?;
                    lens.push(a.os_len);
                    a
                }
            };
            // What a crashed process left in the page cache is indexed now
            // (and may be returned to an idempotent retry): make it durable.
            a.sync()?;
            active = Some(a);
        }
        Ok(Self::assemble(fs, config, lens, active))
    }

    /// Reads the checkpoint and offers it when the extent it records is
    /// the log's: all of it, or a prefix ending at a frame boundary of the
    /// segment it ends in (read into `bytes`, scanned and checked here, so
    /// that a checkpoint whose extent the log no longer holds is refused
    /// before anything is indexed; the scan is handed back for indexing the
    /// rest of that segment).
    fn offer_checkpoint(
        fs: &dyn FileSystem,
        config: &StoreConfig,
        numbers: &[u32],
        checkpoint_extent: CheckpointExtent,
        try_checkpoint: &mut CheckpointVisitor<'_>,
        bytes: &mut Vec<u8>,
    ) -> Result<Offered, StoreError> {
        let dir = &config.dir;
        let Ok(checkpoint) = fs.read(&dir.join(CHECKPOINT_FILE)) else {
            return Ok(Offered::Refused);
        };
        let Some(extent) = checkpoint_extent(&checkpoint) else {
            return Ok(Offered::Refused);
        };
        let Some((&last, before)) = extent.split_last() else {
            return Ok(Offered::Refused);
        };
        if extent.len() > numbers.len() {
            return Ok(Offered::Refused);
        }
        // The length now of the last segment the checkpoint names.
        let mut last_now = 0;
        for (i, (&n, &len)) in numbers.iter().zip(&extent).enumerate() {
            let path = dir.join(segment_file_name(n));
            let now = fs
                .len(&path)
                .map_err(|e| StoreError::io("stat", &path, e))?;
            let whole = i + 1 < extent.len();
            if u32::try_from(i + 1).ok() != Some(n) || (whole && now != len) || now < len {
                return Ok(Offered::Refused);
            }
            last_now = now;
        }
        let exact = extent.len() == numbers.len() && last_now == last;
        let n = u32::try_from(extent.len()).unwrap_or(u32::MAX);
        if !exact && last == SEGMENT_HEADER_LEN as u64 {
            // It ends where the segment's first frame starts (a checkpoint
            // written at rotation): only that segment's header is needed.
            let path = dir.join(segment_file_name(n));
            let mut header = [0u8; SEGMENT_HEADER_LEN];
            let read = fs.open_read(&path).and_then(|f| f.read_at(&mut header, 0));
            let Some(header) = read.ok().and_then(|()| decode_segment_header(&header).ok()) else {
                return Ok(Offered::Refused);
            };
            if !try_checkpoint(&checkpoint, &extent, next_loc) {
                return Ok(Offered::Refused);
            }
            return Ok(Offered::AtSegmentStart {
                lens: before.to_vec(),
                first: header.first_position,
            });
        }
        if !exact {
            // The segment the checkpoint ends in must hold it to a frame
            // boundary, intact.
            let path = dir.join(segment_file_name(n));
            fs.read_into(&path, bytes)
                .map_err(|e| StoreError::io("read", &path, e))?;
            let is_last = extent.len() == numbers.len();
            let scan = match scan_segment(bytes, n, is_last, config.truncate_damaged_tail) {
                Ok(scan @ SegmentScan::Frames { .. }) => scan,
                _ => return Ok(Offered::Refused),
            };
            let SegmentScan::Frames {
                header,
                frames,
                valid_end,
                ..
            } = &scan
            else {
                return Ok(Offered::Refused);
            };
            let holds = *valid_end >= last
                && (last == SEGMENT_HEADER_LEN as u64
                    || frames.iter().any(|f| frame_end(f) == last));
            if !holds || !try_checkpoint(&checkpoint, &extent, next_loc) {
                return Ok(Offered::Refused);
            }
            let first = header.first_position;
            return Ok(Offered::Prefix {
                lens: before.to_vec(),
                from: last,
                scan,
                first,
            });
        }
        if !try_checkpoint(&checkpoint, &extent, next_loc) {
            return Ok(Offered::Refused);
        }
        Ok(Offered::Whole(extent))
    }

    /// Cuts the torn tail `scan` found in segment `n` (when `writable`),
    /// counting it in `report`, and indexes its frames from byte `from.0`
    /// on; `from.1` is the position its header must record. `Break` when
    /// the visitor stopped.
    #[allow(clippy::too_many_arguments)]
    fn index_scanned(
        fs: &dyn FileSystem,
        dir: &Path,
        writable: bool,
        n: u32,
        scan: SegmentScan,
        bytes: &[u8],
        from: (u64, u64),
        visit: &mut FrameVisitor<'_>,
        report: &mut OpenReport,
    ) -> Result<ControlFlow<(), Scanned>, StoreError> {
        let SegmentScan::Frames {
            header,
            frames,
            valid_end,
            unwritten,
        } = scan
        else {
            return Err(StoreError::corrupt(
                Place::segment(n, 0),
                "segment header torn",
            ));
        };
        let cut = bytes.len() as u64 - valid_end;
        if cut > 0 && writable {
            let path = dir.join(segment_file_name(n));
            fs.truncate(&path, valid_end)
                .map_err(|e| StoreError::io("truncate", &path, e))?;
        }
        // Reserved space never written is no torn data.
        report.truncated_bytes += cut - unwritten;
        let mut next_first = from.1;
        let visited = visit_frames(n, bytes, &header, &frames, from.0, &mut next_first, visit)?;
        Ok(visited.map_continue(|()| Scanned {
            valid_end,
            next_first,
            frames: frames.len() as u64,
        }))
    }

    fn assemble(
        fs: Arc<dyn FileSystem>,
        config: &StoreConfig,
        lens: Vec<u64>,
        active: Option<Active>,
    ) -> Self {
        let (active_segment, active_os_len) = active
            .as_ref()
            .map_or((u32::MAX, 0), |a: &Active| (a.segment, a.os_len));
        // The active segment, when there is one, holds one of the
        // `max_open_segments`; a read-only store caches them all.
        let bound = config.max_open_segments.max(MIN_OPEN_SEGMENTS);
        let handles = Handles::new(bound - usize::from(active.is_some()));
        if let Some(a) = &active {
            handles.set_active(a.segment, Arc::clone(&a.file));
        }
        Self {
            fs,
            dir: config.dir.clone(),
            max_body_len: max_body_len(config.max_payload_bytes),
            segment_max: config.segment_max_bytes.max(1),
            lens: RwLock::new(lens),
            handles,
            active: Mutex::new(active),
            active_segment: AtomicU32::new(active_segment),
            active_os_len: AtomicU64::new(active_os_len),
            poisoned: AtomicBool::new(false),
        }
    }

    /// The handle of `segment`, opened (and cached) if need be.
    fn file(&self, segment: u32) -> Result<Arc<dyn FsFile>, StoreError> {
        self.end_of(segment)?;
        self.handles.get(segment, || self.open_segment(segment))
    }

    /// How many bytes `segment` holds, to check index entries against
    /// ([`within`]) before any buffer is sized by them; an error when the
    /// segment does not exist.
    fn end_of(&self, segment: u32) -> Result<u64, StoreError> {
        let lens = read_lock(&self.lens);
        let Some(&len) = segment.checked_sub(1).and_then(|i| lens.get(i as usize)) else {
            return Err(StoreError::corrupt(
                Place::segment(segment, 0),
                "index names a missing segment",
            ));
        };
        // The active segment's recorded length is only where it stood when
        // opened; its bytes in the OS's hands are `active_os_len`. The
        // larger of the two is never short, even mid-rotation.
        if segment == self.active_segment.load(Ordering::SeqCst) {
            return Ok(len.max(self.active_os_len.load(Ordering::SeqCst)));
        }
        Ok(len)
    }

    /// Opens a complete segment for reading: what the handle cache calls
    /// on a miss, with no lock held.
    fn open_segment(&self, segment: u32) -> Result<Arc<dyn FsFile>, StoreError> {
        let path = self.dir.join(segment_file_name(segment));
        self.fs
            .open_read(&path)
            .map_err(|e| StoreError::io("open", &path, e))
    }

    /// True when the bytes of `loc` are certainly in the OS's hands.
    fn on_disk(&self, loc: Loc) -> bool {
        let active = self.active_segment.load(Ordering::SeqCst);
        loc.segment < active
            || (loc.segment == active
                && loc.offset + frame_len(loc) <= self.active_os_len.load(Ordering::SeqCst))
    }

    fn writer(&self) -> Result<MutexGuard<'_, Option<Active>>, StoreError> {
        if self.poisoned.load(Ordering::SeqCst) {
            return Err(StoreError::Poisoned);
        }
        Ok(lock(&self.active))
    }

    fn poison<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if result.is_err() {
            self.poisoned.store(true, Ordering::SeqCst);
        }
        result
    }

    /// Runs `step` on the active segment (a read-only store has none),
    /// poisoning the engine when it fails, and publishes how much of the
    /// log the OS holds after it.
    fn on_active(
        &self,
        step: impl FnOnce(&mut Active) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut guard = self.writer()?;
        let Some(a) = guard.as_mut() else {
            return Ok(());
        };
        let done = step(a);
        self.poison(done)?;
        self.active_os_len.store(a.os_len, Ordering::SeqCst);
        Ok(())
    }

    fn rotate(&self, a: &mut Active, first_position: u64) -> Result<(), StoreError> {
        a.sync()?;
        // A full segment ends at its last frame: its sealed index and every
        // later open bind to that length.
        a.give_back_reserve()?;
        let next = create_segment(
            &*self.fs,
            &self.dir,
            a.segment + 1,
            first_position,
            self.max_body_len,
            Reserve::for_segments(self.segment_max),
        )?;
        {
            let mut lens = write_lock(&self.lens);
            if let Some(old) = lens.last_mut() {
                *old = a.os_len;
            }
            lens.push(next.os_len);
        }
        self.handles
            .set_active(next.segment, Arc::clone(&next.file));
        self.active_os_len.store(next.os_len, Ordering::SeqCst);
        self.active_segment.store(next.segment, Ordering::SeqCst);
        *a = next;
        Ok(())
    }

    fn read_pending(&self, loc: Loc, out: &mut Vec<u8>) -> Result<bool, StoreError> {
        let guard = lock(&self.active);
        let Some(a) = guard.as_ref() else {
            return Ok(false);
        };
        if a.segment != loc.segment || loc.offset < a.os_len {
            return Ok(false);
        }
        let start = usize::try_from(loc.offset - a.os_len).unwrap_or(usize::MAX);
        let end = start.saturating_add(frame_len(loc) as usize);
        let frame = a.pending.get(start..end).ok_or_else(|| {
            StoreError::corrupt(
                Place::segment(loc.segment, loc.offset),
                "index points past the log end",
            )
        })?;
        let body = checked_body(frame, loc)?;
        out.clear();
        out.extend_from_slice(body);
        Ok(true)
    }
}

/// Refuses an index entry whose frame runs past `end`, the bytes its
/// segment holds (a checkpoint's entry can claim any length).
fn within(loc: Loc, end: u64) -> Result<(), StoreError> {
    if loc
        .offset
        .checked_add(frame_len(loc))
        .is_some_and(|e| e <= end)
    {
        return Ok(());
    }
    Err(StoreError::corrupt(
        Place::segment(loc.segment, loc.offset),
        format!(
            "index entry runs past the end of the segment (a {}-byte frame; the segment \
             holds {end} bytes)",
            frame_len(loc)
        ),
    ))
}

/// Hands the frames one segment scan found to `visit`, after checking the
/// segment starts where the previous one ended: the one frame loop of open
/// and verify.
/// Visits the frames of `segment` that start at byte `from` or later (those
/// before were indexed already), counting every frame in `next_first`.
fn visit_frames(
    segment: u32,
    bytes: &[u8],
    header: &SegmentHeader,
    frames: &[FoundFrame],
    from: u64,
    next_first: &mut u64,
    visit: &mut FrameVisitor<'_>,
) -> Result<ControlFlow<()>, StoreError> {
    if header.first_position != *next_first {
        return Err(StoreError::corrupt(
            Place::segment(segment, 0),
            format!(
                "segment starts at position {}, expected {next_first}",
                header.first_position
            ),
        ));
    }
    for f in frames {
        if f.offset < from {
            *next_first += 1;
            continue;
        }
        let start = f.offset as usize + FRAME_PREFIX_LEN;
        let body = bytes.get(start..start + f.body_len as usize).unwrap_or(&[]);
        let loc = Loc {
            segment,
            len: f.body_len,
            offset: f.offset,
        };
        if visit(loc, body).is_break() {
            return Ok(ControlFlow::Break(()));
        }
        *next_first += 1;
    }
    Ok(ControlFlow::Continue(()))
}

/// Where the frame `f` ends (and the next would start).
fn frame_end(f: &FoundFrame) -> u64 {
    f.offset + FRAME_PREFIX_LEN as u64 + u64::from(f.body_len)
}

/// What an open indexed before its sealed indexes and scan: the lengths of
/// the segments done, the position after them, and the frames of the last.
#[derive(Default)]
struct Done {
    lens: Vec<u64>,
    next_first: u64,
    last_frames: u64,
}

/// What became of the checkpoint offered at open.
enum Offered {
    /// It describes the log exactly (these segment lengths): nothing to scan.
    Whole(Vec<u64>),
    /// It describes the log up to byte `from` of the segment after `lens`,
    /// whose scan (of the bytes left in the open's buffer) is `scan` and
    /// whose first frame is at position `first`.
    Prefix {
        lens: Vec<u64>,
        from: u64,
        scan: SegmentScan,
        first: u64,
    },
    /// It describes the log up to the start of the first frame of the
    /// segment after `lens` (whose first frame is at position `first`).
    AtSegmentStart { lens: Vec<u64>, first: u64 },
    /// None, or one that does not describe this log.
    Refused,
}

/// One segment scanned at open.
struct Scanned {
    valid_end: u64,
    /// The position after its last frame.
    next_first: u64,
    frames: u64,
}

/// Frames of a segment lie back to back after its header.
pub(crate) fn next_loc(previous: Option<Loc>, segment: u32, _position: u64, len: u32) -> Loc {
    let offset = match previous {
        Some(p) if p.segment == segment => p.offset + FRAME_PREFIX_LEN as u64 + u64::from(p.len),
        _ => SEGMENT_HEADER_LEN as u64,
    };
    Loc {
        segment,
        len,
        offset,
    }
}

fn list_segments(fs: &dyn FileSystem, dir: &Path) -> Result<Vec<u32>, StoreError> {
    let names = fs.list(dir).map_err(|e| StoreError::io("list", dir, e))?;
    let mut numbers: Vec<u32> = names
        .iter()
        .filter_map(|name| parse_segment_file_name(name))
        .collect();
    numbers.sort_unstable();
    Ok(numbers)
}

/// Removes `name` in `dir` if it is there; true when it was.
fn remove_file_in(fs: &dyn FileSystem, dir: &Path, name: &str) -> Result<bool, StoreError> {
    let path = dir.join(name);
    match fs.remove(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(StoreError::io("remove", &path, e)),
    }
}

impl LogEngine for SegmentEngine {
    fn append(
        &self,
        first_position: u64,
        bodies: &BodyBatch,
        flush: bool,
        locs: &mut Vec<Loc>,
    ) -> Result<(), StoreError> {
        let mut guard = self.writer()?;
        let Some(a) = guard.as_mut() else {
            return Err(StoreError::ReadOnly);
        };
        let total: u64 = bodies
            .bodies()
            .map(|b| (FRAME_PREFIX_LEN + b.len()) as u64)
            .sum();
        // A segment created under a smaller payload limit cannot hold a
        // larger frame (recovery would reject it): start a new segment.
        let too_big = bodies.bodies().any(|b| b.len() > a.max_body_len as usize);
        if (a.frames > 0 && a.end() + total > self.segment_max) || too_big {
            let rotated = self.rotate(a, first_position);
            self.poison(rotated)?;
        }
        for body in bodies.bodies() {
            let offset = a.push(body);
            locs.push(Loc {
                segment: a.segment,
                len: u32::try_from(body.len()).unwrap_or(u32::MAX),
                offset,
            });
        }
        if flush || a.pending.len() >= FLUSH_THRESHOLD {
            let flushed = a.flush();
            self.poison(flushed)?;
            self.active_os_len.store(a.os_len, Ordering::SeqCst);
        }
        Ok(())
    }

    fn sync(&self) -> Result<(), StoreError> {
        // Flushed under the writer's lock, synced outside it: appends go on
        // meanwhile.
        let mut flushed = None;
        self.on_active(|a| {
            a.flush()?;
            flushed = Some((Arc::clone(&a.file), a.path.clone()));
            Ok(())
        })?;
        let Some((file, path)) = flushed else {
            return Ok(());
        };
        let synced = file
            .sync_data()
            .map_err(|e| StoreError::io("fdatasync", &path, e));
        self.poison(synced)
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.on_active(Active::flush)
    }

    fn give_back_reserve(&self) -> Result<(), StoreError> {
        self.on_active(Active::give_back_reserve)
    }

    fn read(&self, loc: Loc, out: &mut Vec<u8>) -> Result<(), StoreError> {
        if !self.on_disk(loc) && self.read_pending(loc, out)? {
            return Ok(());
        }
        within(loc, self.end_of(loc.segment)?)?;
        let file = self.file(loc.segment)?;
        let len = frame_len(loc) as usize;
        read_at(&*file, loc.segment, loc.offset, len, out)?;
        checked_body(out, loc)?;
        out.copy_within(FRAME_PREFIX_LEN.., 0);
        out.truncate(loc.len as usize);
        Ok(())
    }

    fn read_many(
        &self,
        locs: &[Loc],
        visit: &mut BodyVisitor<'_>,
    ) -> Result<ControlFlow<()>, StoreError> {
        let mut buf = Vec::new();
        let mut i = 0;
        while i < locs.len() {
            let first = locs[i];
            if !self.on_disk(first) {
                self.read(first, &mut buf)?;
                if visit(i, &buf)?.is_break() {
                    return Ok(ControlFlow::Break(()));
                }
                i += 1;
                continue;
            }
            // Extend the run while frames are adjacent and on disk.
            let mut end = i + 1;
            let mut run_end = first.offset + frame_len(first);
            while end < locs.len() {
                let next = locs[end];
                if next.segment != first.segment
                    || next.offset != run_end
                    || run_end - first.offset + frame_len(next) > MAX_RUN_BYTES
                    || !self.on_disk(next)
                {
                    break;
                }
                run_end += frame_len(next);
                end += 1;
            }
            let segment_end = self.end_of(first.segment)?;
            locs[i..end]
                .iter()
                .try_for_each(|&loc| within(loc, segment_end))?;
            let file = self.file(first.segment)?;
            let run_len = usize::try_from(run_end - first.offset).unwrap_or(usize::MAX);
            read_at(&*file, first.segment, first.offset, run_len, &mut buf)?;
            for (j, loc) in locs.iter().enumerate().take(end).skip(i) {
                let start = (loc.offset - first.offset) as usize;
                let frame = buf
                    .get(start..start + frame_len(*loc) as usize)
                    .unwrap_or(&[]);
                if visit(j, checked_body(frame, *loc)?)?.is_break() {
                    return Ok(ControlFlow::Break(()));
                }
            }
            i = end;
        }
        Ok(ControlFlow::Continue(()))
    }

    fn scan(&self, visit: &mut FrameVisitor<'_>) -> Result<ControlFlow<()>, StoreError> {
        // Everything appended so far must be readable from the files.
        if lock(&self.active).is_some() && !self.poisoned.load(Ordering::SeqCst) {
            self.flush()?;
        }
        let lens = self.extent();
        let mut next_first = 0u64;
        let mut buf = Vec::new();
        for (i, &len) in lens.iter().enumerate() {
            let n = u32::try_from(i + 1).unwrap_or(u32::MAX);
            // One pass over every segment: borrow cached handles, but keep
            // the ones it opens out of the cache readers rely on.
            let file = self.handles.get_uncached(n, || self.open_segment(n))?;
            read_at(
                &*file,
                n,
                0,
                usize::try_from(len).unwrap_or(usize::MAX),
                &mut buf,
            )?;
            // Recovery already cut any torn tail: here every byte must be good.
            let SegmentScan::Frames { header, frames, .. } = scan_segment(&buf, n, false, false)?
            else {
                return Err(StoreError::corrupt(
                    Place::segment(n, 0),
                    "segment header damaged",
                ));
            };
            if visit_frames(n, &buf, &header, &frames, 0, &mut next_first, visit)?.is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    fn extent(&self) -> Vec<u64> {
        let lens = read_lock(&self.lens);
        let active = self.active_segment.load(Ordering::SeqCst);
        lens.iter()
            .enumerate()
            .map(|(i, &len)| {
                if i + 1 == active as usize {
                    self.active_os_len.load(Ordering::SeqCst)
                } else {
                    len
                }
            })
            .collect()
    }

    fn write_checkpoint(&self, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.dir.join(CHECKPOINT_FILE);
        // A close that changed nothing since the open that loaded the
        // checkpoint encodes it again byte for byte: it is left as it is
        // (written durably by the close that wrote it; the directory is
        // synced once more, as after a write).
        let same = self.fs.len(&path).ok() == Some(bytes.len() as u64)
            && self.fs.read(&path).is_ok_and(|old| old == bytes);
        if same {
            return sync_dir(&*self.fs, &self.dir);
        }
        replace_atomically(&*self.fs, &path, bytes)
    }

    fn remove_checkpoint(&self) -> Result<(), StoreError> {
        if remove_file_in(&*self.fs, &self.dir, CHECKPOINT_FILE)? {
            sync_dir(&*self.fs, &self.dir)?;
        }
        Ok(())
    }

    fn write_positions_file(&self, bytes: &[u8]) -> Result<(), StoreError> {
        replace_atomically(&*self.fs, &self.dir.join(POSITIONS_FILE), bytes)
    }

    fn write_sealed_index(&self, segment: u32, bytes: &[u8]) -> Result<(), StoreError> {
        write_sealed_index_in(&*self.fs, &self.dir, segment, bytes)
    }

    fn read_sealed_index(&self, segment: u32) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.dir.join(sealed_index_file_name(segment));
        match self.fs.read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io("read", &path, e)),
        }
    }

    fn seals(&self) -> bool {
        true
    }

    fn size(&self) -> (u64, u64) {
        let lens = self.extent();
        let pending = lock(&self.active).as_ref().map_or(0, |a| a.pending.len());
        (lens.len() as u64, lens.iter().sum::<u64>() + pending as u64)
    }
}
