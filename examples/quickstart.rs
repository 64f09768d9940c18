//! Quickstart: propose an event, pass it through a gate, read the receipt.
//! (Grows into the full order workflow once the store and macros land.)

use batpak::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let coord = Coordinate::new("order:507", "shop:acme")?;
    let placed = EventKind::custom(7, 1)?;
    let gates = GateSet::<u64, u64>::new().with(FnGate::new(
        "within_credit_limit",
        |limit: &u64, p: &Proposal<u64>| {
            if p.payload() <= limit {
                Ok(())
            } else {
                Err(Denial::new("over_limit", "total exceeds the credit limit")
                    .with("limit", limit)
                    .with("total", p.payload()))
            }
        },
    ));
    let receipt = gates.evaluate(&5_000, Proposal::new(coord.clone(), placed, 4_200))?;
    println!("admitted by {:?}", receipt.gates());
    match gates.evaluate(&5_000, Proposal::new(coord, placed, 9_000)) {
        Err(denial) => println!("refused: {denial}"),
        Ok(_) => println!("unexpectedly admitted"),
    }
    Ok(())
}
