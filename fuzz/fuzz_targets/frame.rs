//! `cargo +nightly fuzz run frame`: see `batpak::__fuzz::frame` for the input
//! layout and the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = batpak::__fuzz::frame(data);
});
