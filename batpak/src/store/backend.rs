//! Which engine holds a store's log: a leaf, so the config, the errors and
//! the engines can all name it.

use std::fmt;

/// The storage engine that holds a store's log.
///
/// Every variant exists in every build so that a directory's marker can
/// always be named in an error; opening with `Redb` or `Lmdb` needs the
/// `redb` or `lmdb` feature, else [`StoreError::BackendUnavailable`](crate::StoreError::BackendUnavailable).
/// `TUNING.md` ("Choosing a backend") has the measured trade-offs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Backend {
    /// batpak's own append-only segment files (the default).
    #[default]
    Segment,
    /// One redb database file, `log.redb` (feature `redb`).
    Redb,
    /// One LMDB environment, directory `log.lmdb` (feature `lmdb`).
    Lmdb,
}

impl Backend {
    /// The name written in the marker file and shown in messages.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Segment => "segment",
            Self::Redb => "redb",
            Self::Lmdb => "lmdb",
        }
    }

    /// Whether this build can open the backend (its feature is enabled).
    #[must_use]
    pub fn is_available(self) -> bool {
        match self {
            Self::Segment => true,
            Self::Redb => cfg!(feature = "redb"),
            Self::Lmdb => cfg!(feature = "lmdb"),
        }
    }

    /// The backend a marker file names.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        match name {
            "segment" => Some(Self::Segment),
            "redb" => Some(Self::Redb),
            "lmdb" => Some(Self::Lmdb),
            _ => None,
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
