// A `Bypass` cannot skip its checks of who and why as a struct literal.
use batpak::Bypass;

fn main() {
    let _forged = Bypass {
        by: String::new(),
        reason: "\u{200B}".to_owned(),
    };
}
