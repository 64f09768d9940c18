//! `cargo +nightly fuzz run render`: see `batpak::__fuzz::render` for the input
//! layout and the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = batpak::__fuzz::render(data);
});
