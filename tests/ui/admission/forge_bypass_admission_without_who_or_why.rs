// A bypass record cannot be written by hand (here with no who and no why):
// only `bypass` with a checked `Bypass` makes one.
use batpak::Admission;

fn main() {
    let _forged = Admission::Bypassed {
        by: String::new(),
        reason: String::new(),
    };
}
