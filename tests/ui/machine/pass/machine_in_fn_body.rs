//! A machine declared inside a function body (as tests often do).
use batpak::prelude::*;
use serde::{Deserialize, Serialize};

fn main() {
    #[derive(StateMachine, Serialize, Deserialize)]
    #[machine(states(Open, Closed), initial = Open, terminal(Closed))]
    enum Ticket {
        #[transition(Open -> Closed)]
        Close { note: String },
    }

    assert_eq!(
        Ticket::apply(TicketState::Open, &Ticket::Close { note: String::new() }),
        Ok(TicketState::Closed)
    );
    let _: Option<Machine<Ticket, ticket::Open>> = None;
}
