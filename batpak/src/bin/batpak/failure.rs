//! How a command ends: its exit status, or the [`Failure`] that stopped
//! it. Every command file uses these; this file uses none of them.

use std::io;

use batpak::StoreError;

/// Exit status when the command found nothing wrong.
pub(crate) const EXIT_OK: u8 = 0;
/// Exit status when the store's bytes are damaged.
pub(crate) const EXIT_DAMAGE: u8 = 1;
/// Exit status for a usage error or a store that cannot be opened.
pub(crate) const EXIT_USAGE: u8 = 2;

/// Why a command stopped early.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The store said no or broke; mapped to a message and exit status.
    Store(StoreError),
    /// Writing to stdout failed (a closed pipe ends the output quietly).
    Output(io::Error),
    /// The arguments name something the store does not have (a machine
    /// or variant its catalog lacks): a usage error found after opening.
    Usage(String),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Self::Output(e)
    }
}
