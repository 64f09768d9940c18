// A receipt has no default value to start a forgery from.
use batpak::Receipt;

fn main() {
    let _forged: Receipt<u64> = Default::default();
}
