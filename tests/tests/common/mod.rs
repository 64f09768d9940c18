//! Shared test support. `cache_suite` is the projection-cache suite every
//! `ProjectionCache` implementation runs.

pub mod cache_suite;
