//! `cargo +nightly fuzz run recovery`: see `batpak::__fuzz::recovery` for the input
//! layout and the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = batpak::__fuzz::recovery(data);
});
