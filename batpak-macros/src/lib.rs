//! Procedural macros for batpak. Use them through `batpak::prelude`.
