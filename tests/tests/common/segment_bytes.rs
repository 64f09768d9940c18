//! A tiny reader of segment files written from `batpak/FORMAT.md`, not from
//! the store's code, so tests can find frames and change bytes in them.
//!
//! One copy for the `tests` package's `common` module and for
//! `batpak/tests/cli.rs`, which includes this file with `#[path]`; so it
//! names no batpak type and needs only `crc32fast`.

use std::path::{Path, PathBuf};

/// Bytes before the first frame of a segment file.
pub(crate) const SEGMENT_HEADER_LEN: usize = 32;
/// Length and CRC before each frame body.
pub(crate) const FRAME_PREFIX_LEN: usize = 8;

/// The file of segment `n` in a store directory.
pub(crate) fn segment_path(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("{n:010}.seg"))
}

/// (offset, total frame length) of every frame in a segment file, up to
/// the first one that is cut short or fails its CRC.
pub(crate) fn frames(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = SEGMENT_HEADER_LEN;
    while at + FRAME_PREFIX_LEN <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap());
        let end = at + FRAME_PREFIX_LEN + len;
        if len == 0 || end > bytes.len() {
            break;
        }
        if frame_crc(bytes, at, len) != crc {
            break;
        }
        out.push((at, end - at));
        at = end;
    }
    out
}

/// Rewrites the CRC of the frame at `offset` to match its bytes, so a frame
/// whose body a test changed is whole again and only its content differs.
pub(crate) fn reseal_frame(bytes: &mut [u8], offset: usize) {
    let len = u32::from_le_bytes(bytes[offset..offset + 4].try_into().unwrap()) as usize;
    let crc = frame_crc(bytes, offset, len);
    bytes[offset + 4..offset + 8].copy_from_slice(&crc.to_le_bytes());
}

/// The CRC a frame at `at` with a body of `len` bytes must carry: over its
/// length field and its body.
fn frame_crc(bytes: &[u8], at: usize, len: usize) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&bytes[at..at + 4]);
    h.update(&bytes[at + FRAME_PREFIX_LEN..at + FRAME_PREFIX_LEN + len]);
    h.finalize()
}

/// Replaces the one occurrence of `from` in a segment file's frames with
/// `to` (of the same length) and reseals the frame holding it: a store that
/// holds bytes the store's own checks would not have written.
pub(crate) fn replace_in_frame(bytes: &mut [u8], from: &[u8], to: &[u8]) {
    assert_eq!(
        from.len(),
        to.len(),
        "a replacement keeps the frame's length"
    );
    let found: Vec<usize> = (0..=bytes.len() - from.len())
        .filter(|&at| &bytes[at..at + from.len()] == from)
        .collect();
    assert_eq!(found.len(), 1, "{from:?} occurs {} times", found.len());
    let at = found[0];
    let (frame, _) = frames(bytes)
        .into_iter()
        .find(|&(offset, len)| (offset..offset + len).contains(&at))
        .expect("the bytes lie inside a frame");
    bytes[at..at + to.len()].copy_from_slice(to);
    reseal_frame(bytes, frame);
}
