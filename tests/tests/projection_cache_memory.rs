//! The projection-cache suite on the in-memory cache (the default).

#[path = "common/cache_suite.rs"]
mod cache_suite;

use batpak::MemoryCache;

#[test]
fn memory_cache_projection_is_incremental() {
    cache_suite::incremental_applies_only_new_events(&MemoryCache::new);
}

#[test]
fn memory_cache_survives_store_reopen_when_shared() {
    cache_suite::reopen_over_the_same_cache_stays_incremental(&MemoryCache::new);
}

#[test]
fn memory_cache_changed_version_rebuilds() {
    cache_suite::changed_version_rebuilds(&MemoryCache::new);
}

#[test]
fn memory_cache_every_flipped_byte_is_rebuilt_and_reported() {
    cache_suite::every_flipped_byte_is_rebuilt_and_reported(&MemoryCache::new);
}

#[test]
fn memory_cache_truncated_and_unknown_format_entries_are_rebuilt() {
    cache_suite::truncated_and_unknown_format_entries_are_rebuilt(&MemoryCache::new);
}

#[test]
fn memory_cache_undecodable_state_is_rebuilt_and_reported() {
    cache_suite::undecodable_state_is_rebuilt_and_reported(&MemoryCache::new);
}

#[test]
fn memory_cache_entry_from_another_log_is_rebuilt_and_reported() {
    cache_suite::entry_from_another_log_is_rebuilt_and_reported(&MemoryCache::new);
}

#[test]
fn memory_cache_regions_are_cached_apart() {
    cache_suite::regions_are_cached_apart(&MemoryCache::new);
}

#[test]
fn memory_cache_run_all_passes() {
    cache_suite::run_all(&MemoryCache::new);
}
