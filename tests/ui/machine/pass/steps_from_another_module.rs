//! The step traits live beside the enum; another module imports them (or
//! globs the enum's module) to call the typed steps.
#![deny(warnings)]

mod shop {
    use batpak::prelude::*;
    use serde::{Deserialize, Serialize};

    #[derive(StateMachine, Debug, Serialize, Deserialize)]
    #[machine(states(Draft, Placed), initial = Draft)]
    pub enum Order {
        #[transition(Draft -> Placed)]
        Placed { items: u32 },
    }
}

mod checkout {
    use batpak::prelude::*;

    use crate::shop::{Order, OrderDraftTransitions, order};

    pub fn place(
        store: &Store,
        draft: Machine<Order, order::Draft>,
    ) -> Result<Machine<Order, order::Placed>, StepError<Order, order::Draft>> {
        draft.placed(store, 2)
    }
}

mod glob {
    use crate::shop::*;

    pub fn place(
        store: &batpak::Store,
        draft: batpak::Machine<Order, order::Draft>,
    ) -> Result<batpak::Machine<Order, order::Placed>, batpak::MachineError> {
        Ok(draft.placed(store, 3)?)
    }
}

fn main() {
    let _ = (checkout::place, glob::place);
}
