//! A machine and its gate declared inside a function body (as tests often
//! do): the gate's listing check works there too.
use batpak::prelude::*;
use serde::{Deserialize, Serialize};

fn main() {
    #[derive(StateMachine, Serialize, Deserialize)]
    #[machine(states(Open, Closed), initial = Open, terminal(Closed), gates(has_note))]
    enum Ticket {
        #[transition(Open -> Closed)]
        Close { note: String },
    }

    /// A ticket is closed with a note.
    #[gate]
    fn has_note(_ctx: &(), event: &Ticket) -> bool {
        matches!(event, Ticket::Close { note } if !note.is_empty())
    }

    assert_eq!(
        Ticket::apply(TicketState::Open, &Ticket::Close { note: String::new() }),
        Ok(TicketState::Closed)
    );
    let _: Option<Machine<Ticket, ticket::Open>> = None;
    assert_eq!(Ticket::GATES.len(), 1);
}
