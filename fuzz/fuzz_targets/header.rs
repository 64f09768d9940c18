//! `cargo +nightly fuzz run header`: see `batpak::__fuzz::header` for the input
//! layout and the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = batpak::__fuzz::header(data);
});
