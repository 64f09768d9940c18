// A record claiming "admitted by gate X" cannot be written by hand: only a
// receipt's commit makes a gated admission.
use batpak::Admission;

fn main() {
    let _forged = Admission::Gated {
        gates: vec!["within_credit_limit".to_owned()],
    };
}
