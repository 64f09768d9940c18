//! Example-only package: see the `[[example]]` targets.
