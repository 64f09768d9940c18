//! Fuzz entry points: one function per target, each taking arbitrary bytes.
//!
//! Compiled only with the `fuzzing` feature and reached as `batpak::__fuzz`
//! (no stability promise). The cargo-fuzz crate in `fuzz/` calls them for
//! long runs; `tests/tests/fuzz_targets.rs` runs them over seeds and
//! deterministic mutations inside the normal test command.
//!
//! The code under test must never panic, whatever the bytes. Each function
//! also checks properties of what it got back, and a broken property panics
//! with a message: that is how a fuzzer learns of it. Each returns the name
//! of the deepest stage the input reached, so a run can show its mutations
//! get past the first check.
//!
//! | target | input | checks |
//! |---|---|---|
//! | [`frame`] | flags, then frames back to back | frame check, body split, header peek against the full decode |
//! | [`header`] | an encoded event header | peek and decode agree; the decode answers as serde alone does; a decoded header re-encodes and decodes to itself |
//! | [`checkpoint`] | flags, checkpoint length (u16), checkpoint, positions file length (u16), positions file, segment files | decoder round trip; a store opened on it returns only true events |
//! | [`recovery`] | flags, segment files | scan invariants; read-only and writable opens agree, verify is clean, the store takes new appends |
//! | [`render`](fn@render) | flags, segment files | the CLI's `dump` lines, and the bytes as one payload and one header, each stay one line |
//!
//! Segment files follow one another in the input; each begins at an
//! occurrence of the segment magic (the first at the start). Flags (first
//! byte): [`RESEAL`], [`REPAIR`], [`VERIFY_ON_OPEN`], and for `checkpoint`
//! [`CHECKPOINT_CRC`] and [`CHECKPOINT_EXTENT`]. The flags let a fuzzer
//! past checksums it cannot forge, into the checks behind them.
//!
//! Stores are written to a fresh directory per input under `/dev/shm` (or
//! the system temporary directory when there is none), removed afterwards.
// A broken property is reported by panicking: that is the contract with
// the fuzzer and the test that runs these.
#![allow(clippy::panic)]

use std::fmt::{Debug, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::core::index::{Index, StreamState};
use super::engine::body::{BODY_PREFIX_LEN, HeaderPeek, peek_header, split_body};
use super::engine::segment::format::{
    FRAME_PREFIX_LEN, FrameCheck, HEADER_CRC_AT, MAGIC, SEGMENT_HEADER_LEN, check_frame,
    frame_body, max_body_len, push_frame, segment_file_name,
};
use super::engine::segment::recovery::{SegmentScan, scan_segment};
use super::engine::segment::{POSITIONS_FILE, next_loc};
use super::{DEFAULT_MAX_PAYLOAD_BYTES, Store, StoreConfig, StoreError};
use crate::coordinate::Coordinate;
use crate::event::{
    EventHeader, EventKind, StoredEvent, decode_header, decode_payload, encode_header,
};
use crate::region::Region;

// The CLI's renderer, compiled from the binary's own file so the target
// runs exactly what `batpak dump` prints. The binary matches the
// `#[non_exhaustive]` `Admission` from outside the library and needs a
// wildcard arm, which inside the library can never be reached.
#[allow(unreachable_patterns)]
#[path = "../bin/batpak/render.rs"]
mod render;
use render::{Dynamic, Quoted, render_header};

/// Flag: recompute every segment header's and frame's checksum before use.
pub const RESEAL: u8 = 1;
/// Flag: open with `truncate_damaged_tail` (repair mode).
pub const REPAIR: u8 = 2;
/// Flag: open with `verify_on_open`.
pub const VERIFY_ON_OPEN: u8 = 4;
/// Flag (`checkpoint`): the checkpoint is given without its CRC; append it.
pub const CHECKPOINT_CRC: u8 = 8;
/// Flag (`checkpoint`): rewrite the extent the checkpoint records to the
/// lengths of the segment files given.
pub const CHECKPOINT_EXTENT: u8 = 16;

/// Most segment files taken from one input (bounds the work per input).
const MAX_SEGMENTS: usize = 8;

// ---- frame and header ----------------------------------------------------

/// The frame decoder: checks the frames at the start of `data` (after a
/// flags byte; [`RESEAL`] recomputes their CRCs), one after another, and
/// splits each valid body and decodes its header.
#[must_use]
pub fn frame(data: &[u8]) -> &'static str {
    let Some((&flags, rest)) = data.split_first() else {
        return "empty";
    };
    let mut bytes = rest.to_vec();
    if flags & RESEAL != 0 {
        reseal_frames(&mut bytes, 0);
    }
    let max = max_body_len(DEFAULT_MAX_PAYLOAD_BYTES);
    let mut reached = "no valid frame";
    let mut at = 0;
    while at < bytes.len() {
        let here = &bytes[at..];
        let FrameCheck::Valid { body_len } = check_frame(here, max) else {
            break;
        };
        let end = FRAME_PREFIX_LEN + body_len as usize;
        assert!(body_len > 0 && body_len <= max && end <= here.len());
        // The check reads nothing past the frame, and misses no byte of it.
        let exact = &here[..end];
        assert_eq!(check_frame(exact, max), FrameCheck::Valid { body_len });
        assert_eq!(check_frame(exact, body_len), FrameCheck::Valid { body_len });
        assert_eq!(
            check_frame(&exact[..end - 1], max),
            FrameCheck::PastEnd(body_len)
        );
        assert_eq!(
            check_frame(exact, body_len - 1),
            FrameCheck::TooLong(body_len)
        );
        let body = frame_body(exact);
        reached = "valid frame";
        if let Some(parts) = split_body(body) {
            assert_eq!(
                BODY_PREFIX_LEN + parts.header.len() + parts.payload.len(),
                body.len()
            );
            assert!(!parts.header.is_empty());
            assert!(body.ends_with(parts.payload));
            reached = match header(parts.header) {
                "decoded" => "valid frame, header decoded",
                _ => "valid frame, body split",
            };
        }
        at += end;
    }
    reached
}

/// The header decoder: the in-place peek and the full decode of `data`
/// agree on every field both read, the full decode (which reads the
/// encoder's form in place) answers as `EventHeader`'s serde decode alone
/// does, and a decoded header encodes to bytes that decode to the same
/// header and that the peek reads.
#[must_use]
pub fn header(data: &[u8]) -> &'static str {
    let peek = peek_header(data);
    let decoded = decode_header(data);
    assert_eq!(
        decoded.as_ref().ok(),
        header_by_serde(data).as_ref(),
        "the decode and serde disagree"
    );
    if let (Some(p), Ok(h)) = (&peek, &decoded) {
        assert_eq!(
            *p,
            peek_of(h),
            "the peek misread a header the decoder reads"
        );
    }
    let Ok(h) = decoded else {
        return if peek.is_some() { "peeked" } else { "refused" };
    };
    let canonical = encode_header(&h).unwrap_or_else(|e| panic!("re-encoding {h:?}: {e}"));
    let again = decode_header(&canonical).unwrap_or_else(|e| panic!("decoding {h:?}: {e}"));
    assert_eq!(again, h);
    assert_eq!(peek_header(&canonical), Some(peek_of(&h)));
    "decoded"
}

/// `data` decoded by `EventHeader`'s `Deserialize` alone, with nothing
/// after it: the reference [`decode_header`] must agree with.
fn header_by_serde(data: &[u8]) -> Option<EventHeader> {
    let mut rest = data;
    let mut deserializer = rmp_serde::Deserializer::new(&mut rest);
    deserializer.set_max_depth(crate::event::MAX_DECODE_DEPTH);
    let header = serde::Deserialize::deserialize(&mut deserializer).ok()?;
    rest.is_empty().then_some(header)
}

fn peek_of(h: &EventHeader) -> HeaderPeek<'_> {
    HeaderPeek {
        id: h.id.as_u128(),
        sequence: h.sequence,
        position: h.position,
        kind: h.kind.to_u32(),
        entity: h.coordinate.entity().as_bytes(),
        scope: h.coordinate.scope().as_bytes(),
    }
}

// ---- checkpoint ----------------------------------------------------------

/// The checkpoint decoder, alone and in a store. Input: flags, the
/// checkpoint's length (u16 LE), the checkpoint, then segment files.
///
/// Decoded against the extent it records and against the segments given,
/// an accepted checkpoint must re-encode to one that decodes the same. With
/// the segments written beside it, a read-only store opened on it must
/// open (its log is whole, or it would not be accepted); every event any
/// read returns must be the event the log holds at that position (compared
/// with a store opened on the same segments without a checkpoint), and a
/// clean `verify` means the index is exactly the log's.
#[must_use]
pub fn checkpoint(data: &[u8]) -> &'static str {
    let Some((&flags, rest)) = data.split_first() else {
        return "empty";
    };
    let len_bytes: [u8; 2] = rest
        .get(..2)
        .and_then(|b| b.try_into().ok())
        .unwrap_or_default();
    let rest = rest.get(2..).unwrap_or_default();
    let (ckpt, rest) = rest.split_at(usize::from(u16::from_le_bytes(len_bytes)).min(rest.len()));
    let (positions, segments) = split_sized(rest);
    let files = split_segments(segments, flags);
    let extent: Vec<u64> = files.iter().map(|f| f.len() as u64).collect();
    let mut ckpt = ckpt.to_vec();
    if flags & CHECKPOINT_EXTENT != 0 {
        rewrite_extent(&mut ckpt, &extent);
    }
    if flags & CHECKPOINT_CRC != 0 {
        let sum = crc32fast::hash(&ckpt);
        ckpt.extend_from_slice(&sum.to_le_bytes());
    }
    let recorded = Index::checkpoint_extent(&ckpt).map(|(_, e)| e);
    let mut reached = "refused";
    for extent in recorded.iter().chain([&extent]) {
        if let Some(index) = Index::decode_checkpoint(&ckpt, extent, next_loc) {
            check_index(&index, extent);
            reached = "decoded";
        }
    }
    if files.is_empty() {
        return reached;
    }
    let scratch = Scratch::new();
    write_segments(scratch.path(), &files);
    write_sealed_indexes(scratch.path(), &files, flags);
    let config = store_config(scratch.path(), flags).create_if_missing(false);
    // The truth: the same segments, scanned.
    let truth = Store::open_read_only(config.clone())
        .ok()
        .and_then(|s| every_header(&s).ok());
    write_file(&scratch.path().join("index.ckpt"), &ckpt);
    if !positions.is_empty() {
        write_file(&scratch.path().join(POSITIONS_FILE), positions);
    }
    let store = match Store::open_read_only(config) {
        Ok(store) => store,
        Err(e) => {
            // Only `verify_on_open` reads the log when a checkpoint is
            // used, and then it may find the checkpoint's stream heads
            // disagreeing with the log: indistinguishable from a rewritten
            // last event, so an error.
            if let Some(truth) = &truth {
                assert!(
                    flags & VERIFY_ON_OPEN != 0 && matches!(e, StoreError::Corrupt { .. }),
                    "a store with a whole log ({} events) and a checkpoint failed to open: {e}",
                    truth.len()
                );
            }
            return "store refused";
        }
    };
    let Some(truth) = truth else {
        // Damaged segments that a checkpoint hides: reads must still only
        // fail cleanly.
        read_everything(&store);
        return "store opened on damaged segments";
    };
    if flags & VERIFY_ON_OPEN != 0 {
        assert_headers(&store, &truth, "verified on open");
    }
    check_reads_against(&store, &truth);
    if store.stats().opened_from_checkpoint {
        "store opened from the checkpoint"
    } else {
        "store opened by a scan"
    }
}

/// A part of `data` its first two bytes size (little-endian), and the rest.
fn split_sized(data: &[u8]) -> (&[u8], &[u8]) {
    let len = data
        .get(..2)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u16::from_le_bytes);
    let rest = data.get(2..).unwrap_or_default();
    rest.split_at(usize::from(len).min(rest.len()))
}

/// Invariants of a decoded index, and its encoding round trip.
fn check_index(index: &Index, extent: &[u64]) {
    let positions: u64 = index.streams.iter().map(StreamState::version).sum();
    assert_eq!(positions, index.len());
    // The entries in memory; sealed ones are in files this decode never read.
    let tail = index.entries.tail();
    for (p, e) in (index.entries.tail_first()..).zip(tail) {
        let stream = index.streams.get(e.stream as usize);
        let stream = stream.unwrap_or_else(|| panic!("entry {p} names stream {}", e.stream));
        // Its sequence counts the stream's filed positions first.
        let at = (e.sequence - 1)
            .checked_sub(stream.filed.count)
            .and_then(|i| stream.recent.get(i));
        assert_eq!(at, Some(p), "entry {p}: sequence and stream disagree");
    }
    let again = index.encode_checkpoint(extent, &index.current_filing());
    let back = Index::decode_checkpoint(&again, extent, next_loc)
        .unwrap_or_else(|| panic!("a decoded checkpoint re-encodes to one that does not decode"));
    assert_eq!(back.entries.tables(), index.entries.tables());
    assert_eq!(back.entries.tail(), tail);
    assert_eq!(back.streams.len(), index.streams.len());
    for (a, b) in back.streams.iter().zip(&index.streams) {
        assert_eq!(
            (&a.coordinate, &a.filed, &a.recent, a.head),
            (&b.coordinate, &b.filed, &b.recent, b.head)
        );
    }
    assert_eq!(back.keys.len(), index.keys.len());
    let mut sealed: Vec<(u64, u32)> = index.keys.sealed_pairs().collect();
    let mut sealed_back: Vec<(u64, u32)> = back.keys.sealed_pairs().collect();
    sealed.sort_unstable();
    sealed_back.sort_unstable();
    assert_eq!(sealed_back, sealed);
    for (key, k) in index.keys.recent() {
        let other = back.keys.recent().get(key);
        assert!(other.is_some_and(|o| o.fingerprint == k.fingerprint && o.receipts == k.receipts));
    }
}

/// Replaces the extent recorded in checkpoint bytes by `extent`.
fn rewrite_extent(ckpt: &mut Vec<u8>, extent: &[u64]) {
    let Some((span, _)) = Index::checkpoint_extent(ckpt) else {
        return;
    };
    let mut encoded = (extent.len() as u64).to_le_bytes().to_vec();
    for len in extent {
        encoded.extend_from_slice(&len.to_le_bytes());
    }
    ckpt.splice(span, encoded);
}

/// Every event of the log, in position order: the users' (`Region::all()`)
/// and the system's (the system category, which `all()` leaves out; a
/// mutated kind can land there).
fn every_header(store: &Store) -> Result<Vec<EventHeader>, StoreError> {
    let mut headers = store.query_headers(&Region::all())?;
    let system = Region::all().category(EventKind::SYSTEM_CATEGORY);
    headers.extend(store.query_headers(&system)?);
    headers.sort_by_key(|h| h.position);
    Ok(headers)
}

/// Every read a store offers returns only events equal to the log's at
/// their position (or an error); a clean `verify` means all of them.
/// `truth` is [`every_header`] of the log.
fn check_reads_against(store: &Store, truth: &[EventHeader]) {
    let is_true = |h: &EventHeader, what: &str| {
        let real = truth.get(h.position as usize);
        assert_eq!(
            real,
            Some(h),
            "{what} returned an event the log does not hold"
        );
    };
    if let Ok(headers) = store.query_headers(&Region::all()) {
        headers.iter().for_each(|h| is_true(h, "query_headers"));
    }
    if let Ok(events) = store.query::<Dynamic>(&Region::all()) {
        events.iter().for_each(|e| is_true(&e.header, "query"));
    }
    for real in truth {
        if let Ok(Some(e)) = store.get::<Dynamic>(real.id) {
            assert_eq!(e.header.id, real.id, "get returned another event");
            is_true(&e.header, "get");
        }
        if let Ok(events) = store.stream::<Dynamic>(&real.coordinate) {
            for (i, e) in events.iter().enumerate() {
                is_true(&e.header, "stream");
                assert_eq!(e.header.coordinate, real.coordinate, "stream mixed streams");
                assert_eq!(e.header.sequence, i as u64 + 1, "stream skipped an event");
            }
        }
        if let Ok(headers) = store.walk_causation(real.id) {
            headers.iter().for_each(|h| is_true(h, "walk_causation"));
        }
        let region = Region::coordinate(&real.coordinate).kind(real.kind);
        if let Ok(headers) = store.query_headers(&region) {
            for h in &headers {
                is_true(h, "query_headers of a region");
                assert!(
                    region.matches(h),
                    "a region query returned an event outside it"
                );
            }
        }
    }
    if let Ok(report) = store.verify()
        && report.is_ok()
    {
        assert_headers(store, truth, "verify was clean");
    }
}

/// The store's whole log is exactly `truth`.
fn assert_headers(store: &Store, truth: &[EventHeader], context: &str) {
    let headers = must(every_header(store), context);
    assert_eq!(headers, truth, "{context}, but the index is not the log's");
}

// ---- recovery ------------------------------------------------------------

/// Recovery of arbitrary segment bytes. Input: flags, then segment files.
///
/// Scans each file directly and checks what the scan claims; then opens
/// the store read-only and writable. Either both refuse with a typed error
/// or both open on the same events, whose frames all read back, positions
/// gapless, with `verify` clean; the writable store then takes an append,
/// closes, and reopens with nothing to cut.
#[must_use]
pub fn recovery(data: &[u8]) -> &'static str {
    let flags = data.first().copied().unwrap_or_default();
    let files = split_segments(data.get(1..).unwrap_or_default(), flags);
    for (i, file) in files.iter().enumerate() {
        let n = u32::try_from(i + 1).unwrap_or(u32::MAX);
        check_scan(file, n);
    }
    let scratch = Scratch::new();
    write_segments(scratch.path(), &files);
    let config = store_config(scratch.path(), flags);
    let read_only = Store::open_read_only(config.clone().create_if_missing(false));
    let seen = match &read_only {
        Ok(store) => Ok(check_scanned(store, "read-only open")),
        Err(e) => Err(check_refusal(e)),
    };
    drop(read_only);
    let writable = Store::open(config.clone());
    let (seen, store) = match (seen, writable) {
        (Err(_), Err(e)) => {
            check_refusal(&e);
            return "refused";
        }
        (Ok(seen), Ok(store)) => (seen, store),
        (Ok(_), Err(e)) => panic!("opened read-only, but a writable open failed: {e}"),
        (Err(e), Ok(_)) => panic!("opened writable, but a read-only open failed: {e}"),
    };
    let found = check_scanned(&store, "writable open");
    assert_eq!(found, seen, "read-only and writable opens disagree");
    let coordinate = Coordinate::new("fuzz", "recovery").unwrap_or_else(|e| panic!("{e}"));
    let receipt = must(
        store.append(&coordinate, EventKind::new(7, 1), &found.len()),
        "append after recovery",
    );
    assert_eq!(receipt.position, found.len() as u64);
    must(store.close(), "close after recovery");
    let store = must(Store::open(config), "reopen after recovery");
    assert_eq!(
        store.stats().truncated_bytes,
        0,
        "a clean close left a tail to cut"
    );
    let again = check_scanned(&store, "reopen after recovery");
    assert_eq!(again.get(..found.len()), Some(&found[..]));
    assert_eq!(again.len(), found.len() + 1);
    if found.is_empty() {
        "opened empty"
    } else {
        "opened with events"
    }
}

/// What [`scan_segment`] claims about one file, checked against the bytes:
/// frames back to back from the header up to where good data ends, each
/// valid, the last batch complete; a middle segment has no tail to cut;
/// and the rules only ever relax from middle to last segment and from
/// normal to repair mode.
fn check_scan(bytes: &[u8], n: u32) {
    // What a scan kept: where good data ends and each frame's (offset,
    // length); `None` for a torn header.
    type Kept = Option<(u64, Vec<(u64, u32)>)>;
    // From the strictest rules to the most relaxed.
    let mut before: Option<Kept> = None;
    for (is_last, repair) in [(false, false), (true, false), (true, true)] {
        let scan = match scan_segment(bytes, n, is_last, repair) {
            Ok(scan) => scan,
            Err(e) => {
                assert!(before.is_none(), "relaxing a rule made a scan fail: {e}");
                continue;
            }
        };
        let now = match scan {
            SegmentScan::TornHeader => {
                assert!(is_last, "a middle segment's header was taken as torn");
                None
            }
            SegmentScan::Frames {
                header,
                frames,
                valid_end,
                unwritten,
            } => {
                assert_eq!(header.segment, n);
                let cut = bytes.len() as u64 - valid_end.min(bytes.len() as u64);
                assert!(unwritten <= cut, "more unwritten bytes than cut");
                let zeros = &bytes[bytes.len() - unwritten as usize..];
                assert!(zeros.iter().all(|&b| b == 0), "unwritten bytes not zero");
                let mut at = SEGMENT_HEADER_LEN as u64;
                let mut batch_rest = 0;
                for f in &frames {
                    assert_eq!(f.offset, at, "frames are not back to back");
                    let here = &bytes[at as usize..];
                    let check = check_frame(here, header.max_body_len);
                    assert_eq!(
                        check,
                        FrameCheck::Valid {
                            body_len: f.body_len
                        }
                    );
                    let body = frame_body(&here[..FRAME_PREFIX_LEN + f.body_len as usize]);
                    batch_rest = split_body(body).map_or(u32::MAX, |p| p.batch_rest);
                    at += FRAME_PREFIX_LEN as u64 + u64::from(f.body_len);
                }
                assert_eq!(at, valid_end, "good data does not end after the last frame");
                assert!(valid_end <= bytes.len() as u64);
                assert_eq!(batch_rest, 0, "a scan kept a partial batch");
                if !is_last {
                    assert_eq!(
                        valid_end,
                        bytes.len() as u64,
                        "a middle segment with a tail"
                    );
                }
                let frames = frames.iter().map(|f| (f.offset, f.body_len)).collect();
                Some((valid_end, frames))
            }
        };
        if let Some(before) = &before {
            assert_eq!(before, &now, "relaxing a rule changed what a scan kept");
        }
        before = Some(now);
    }
}

/// Reads a store opened by a scan: every frame reads back, positions are
/// gapless, counters agree and `verify` is clean. Returns the headers.
fn check_scanned(store: &Store, context: &str) -> Vec<EventHeader> {
    let headers = must(every_header(store), context);
    for (i, h) in headers.iter().enumerate() {
        assert_eq!(h.position, i as u64, "{context}: positions not gapless");
    }
    assert_eq!(
        store.stats().events,
        headers.len() as u64,
        "{context}: event count"
    );
    let report = must(store.verify(), context);
    assert!(
        report.is_ok(),
        "{context}: verify after a scan found damage: {report:?}"
    );
    assert_eq!(report.events, headers.len() as u64);
    headers
}

/// A refusal is damage named by place or a format this build cannot read,
/// and its message renders.
fn check_refusal(e: &StoreError) -> String {
    assert!(
        matches!(
            e,
            StoreError::Corrupt { .. } | StoreError::UnsupportedFormat { .. }
        ),
        "recovery refused with an unexpected error: {e:?}"
    );
    e.to_string()
}

// ---- CLI rendering -------------------------------------------------------

/// The CLI's rendering. Input: flags, then segment files (as
/// [`recovery`]). Renders every event of the store, opened read-only, as
/// `batpak dump` does (a payload that does not decode gets a line of its
/// own), and the input after the flags as one payload and as one header:
/// every rendered line stays one line.
#[must_use]
pub fn render(data: &[u8]) -> &'static str {
    let flags = data.first().copied().unwrap_or_default();
    let rest = data.get(1..).unwrap_or_default();
    let mut reached = "nothing rendered";
    if let Ok(value) = decode_payload::<Dynamic>(rest) {
        one_line(&value.to_string());
        reached = "payload rendered";
    }
    if let Ok(h) = decode_header(rest) {
        let mut line = String::new();
        render_header(&h, &mut line);
        one_line(&line);
        reached = "header rendered";
    }
    let files = split_segments(rest, flags);
    let scratch = Scratch::new();
    write_segments(scratch.path(), &files);
    let config = store_config(scratch.path(), flags).create_if_missing(false);
    let Ok(store) = Store::open_read_only(config) else {
        return reached;
    };
    let rendered = dump(&store);
    if rendered > 0 {
        reached = "store rendered";
    }
    reached
}

/// Renders every event as `batpak dump` does (`commands::dump`: the whole
/// selection, or one event at a time when a payload does not decode, its
/// line then saying why); returns how many lines.
fn dump(store: &Store) -> usize {
    let all = Region::all();
    let decoded = |e: StoredEvent<Dynamic>| (e.header, Ok(e.payload));
    let items: Vec<(EventHeader, Result<Dynamic, String>)> = match store.query::<Dynamic>(&all) {
        Ok(events) => events.into_iter().map(decoded).collect(),
        Err(StoreError::Codec(_)) => {
            let Ok(headers) = store.query_headers(&all) else {
                return 0;
            };
            let mut items = Vec::new();
            for h in headers {
                let p = h.position;
                match store.query::<Dynamic>(&all.clone().positions(p..=p)) {
                    Ok(events) => items.extend(events.into_iter().map(decoded)),
                    Err(StoreError::Codec(e)) => items.push((h, Err(e.to_string()))),
                    Err(_) => break,
                }
            }
            items
        }
        Err(_) => return 0,
    };
    for (header, payload) in &items {
        let mut line = String::new();
        render_header(header, &mut line);
        // Writing into a String cannot fail.
        let _ = match payload {
            Ok(p) => write!(line, "{p}"),
            Err(reason) => write!(line, "<undecodable payload: {}>", Quoted(reason)),
        };
        one_line(&line);
    }
    items.len()
}

fn one_line(line: &str) {
    assert!(
        !line.contains(['\n', '\r']),
        "a rendered line breaks: {line:?}"
    );
}

// ---- shared: inputs as store directories --------------------------------

/// Splits `bytes` into segment files at each occurrence of the segment
/// magic (the first file starts at 0 whatever it holds); with [`RESEAL`],
/// recomputes their checksums.
fn split_segments(bytes: &[u8], flags: u8) -> Vec<Vec<u8>> {
    if bytes.is_empty() {
        return Vec::new();
    }
    let mut starts = vec![0];
    for at in 1..bytes.len() {
        if starts.len() == MAX_SEGMENTS {
            break;
        }
        if bytes[at..].starts_with(&MAGIC) {
            starts.push(at);
        }
    }
    starts.push(bytes.len());
    let mut files: Vec<Vec<u8>> = starts
        .windows(2)
        .map(|w| bytes[w[0]..w[1]].to_vec())
        .collect();
    if flags & RESEAL != 0 {
        for file in &mut files {
            if let Some(header) = file.get_mut(..SEGMENT_HEADER_LEN) {
                let crc = crc32fast::hash(&header[..HEADER_CRC_AT]);
                header[HEADER_CRC_AT..].copy_from_slice(&crc.to_le_bytes());
            }
            reseal_frames(file, SEGMENT_HEADER_LEN);
        }
    }
    files
}

/// Recomputes the CRC of each frame from `at` on, following the length
/// fields while they stay inside `bytes`.
fn reseal_frames(bytes: &mut [u8], mut at: usize) {
    let mut framed = Vec::new();
    while let Some(len) = bytes.get(at..at + 4) {
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let end = at + FRAME_PREFIX_LEN + len;
        if len == 0 || end > bytes.len() {
            return;
        }
        framed.clear();
        push_frame(&mut framed, &bytes[at + FRAME_PREFIX_LEN..end]);
        bytes[at..end].copy_from_slice(&framed);
        at = end;
    }
}

fn write_segments(dir: &Path, files: &[Vec<u8>]) {
    for (i, file) in files.iter().enumerate() {
        let n = u32::try_from(i + 1).unwrap_or(u32::MAX);
        write_file(&dir.join(segment_file_name(n)), file);
    }
}

/// Beside `files` in `dir`: the sealed indexes a store writes for them (a
/// checkpoint reads its sealed segments' entries from those), made by a
/// writable open of a copy, killed so it leaves no checkpoint.
fn write_sealed_indexes(dir: &Path, files: &[Vec<u8>], flags: u8) {
    let copy = Scratch::new();
    write_segments(copy.path(), files);
    if let Ok(store) = Store::open(store_config(copy.path(), flags).create_if_missing(false)) {
        store.exit_without_checkpoint();
    }
    for n in 1..=u32::try_from(files.len()).unwrap_or(u32::MAX) {
        let name = crate::store::engine::segment::sealed_index_file_name(n);
        if let Ok(bytes) = std::fs::read(copy.path().join(&name)) {
            write_file(&dir.join(name), &bytes);
        }
    }
}

fn write_file(path: &Path, bytes: &[u8]) {
    if let Err(e) = std::fs::write(path, bytes) {
        panic!("cannot write {}: {e}", path.display());
    }
}

fn store_config(dir: &Path, flags: u8) -> StoreConfig {
    StoreConfig::new(dir)
        .truncate_damaged_tail(flags & REPAIR != 0)
        .verify_on_open(flags & VERIFY_ON_OPEN != 0)
}

/// Reads through every path and ignores the answers: only a panic counts.
fn read_everything(store: &Store) {
    let _ = store.query::<Dynamic>(&Region::all());
    let _ = store.verify();
    if let Ok(headers) = store.query_headers(&Region::all()) {
        for h in headers {
            let _ = store.get::<Dynamic>(h.id);
            let _ = store.stream::<Dynamic>(&h.coordinate);
            let _ = store.walk_causation(h.id);
        }
    }
}

fn must<T, E: Debug>(result: Result<T, E>, context: &str) -> T {
    result.unwrap_or_else(|e| panic!("{context}: {e:?}"))
}

/// A fresh directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let shm = Path::new("/dev/shm");
        let root = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = root.join(format!("batpak-fuzz-{}-{n}", std::process::id()));
        // A directory left by a killed run with the same pid and number.
        let _ = std::fs::remove_dir_all(&dir);
        if let Err(e) = std::fs::create_dir(&dir) {
            panic!("cannot create scratch directory {}: {e}", dir.display());
        }
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
