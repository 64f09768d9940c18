//! Unit, tuple and struct variants, several transitions per variant,
//! explicit kinds and category, a private machine under deny(warnings).
#![deny(warnings)]

use batpak::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(StateMachine, Serialize, Deserialize)]
#[machine(states(Idle, Running, Paused, Stopped), initial = Idle, terminal(Stopped), category = 42)]
enum Job {
    #[transition(Idle -> Running)]
    #[transition(Paused -> Running)]
    Start,
    #[transition(Running -> Paused, kind = 3)]
    Pause(String, u8),
    #[transition(Idle | Running | Paused -> Stopped)]
    Stop { reason: String },
}

fn main() {
    assert_eq!(Job::CATEGORY, 42);
    assert_eq!(Job::Pause(String::new(), 1).kind(), EventKind::new(42, 3));
    assert_eq!(Job::apply(JobState::Paused, &Job::Start), Ok(JobState::Running));
    assert!(Job::apply(JobState::Stopped, &Job::Start).is_err());
    assert_eq!(JobState::Paused.to_string(), "Paused");
    assert_eq!(std::mem::size_of::<Machine<Job, job::Idle>>(), std::mem::size_of::<Machine<Job, job::Stopped>>());
    assert!(Job::MERMAID.contains("Paused --> Running : Start"));
    assert!(Job::DOT.contains("\"Stopped\" [shape=doublecircle]"));
}
