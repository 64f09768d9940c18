//! `cargo +nightly fuzz run checkpoint`: see `batpak::__fuzz::checkpoint` for the input
//! layout and the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = batpak::__fuzz::checkpoint(data);
});
