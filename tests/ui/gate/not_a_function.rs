use batpak::prelude::*;

#[gate]
struct Open;

fn main() {}
