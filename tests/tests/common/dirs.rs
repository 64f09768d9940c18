//! Reading a whole directory back, to prove a command changed no byte of it.
//!
//! One copy for the `tests` package's `common` module and for
//! `batpak/tests/cli.rs`, which includes this file with `#[path]`; so it
//! names no batpak type and needs no dependency.

use std::path::Path;

/// Every file of `dir` as (name, bytes), sorted by name.
pub(crate) fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}
