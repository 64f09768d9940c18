//! `batpak`: look inside a store directory from the command line.
//!
//! Every command but `tail` opens the store with [`Store::open_read_only`], so it never
//! writes a byte (no torn tail is cut, no checkpoint removed) and it refuses
//! to run beside a writer, which holds the directory's lock exclusively.
//! `tail` opens no store: it follows the segment files with a
//! [`batpak::Follower`], beside the writer and without its lock.
//!
//! Payloads are shown without knowing their Rust type: they are decoded into
//! [`render::Dynamic`], a msgpack value tree, and printed as JSON-like text.
//!
//! This file only dispatches: it opens the store and maps outcomes to
//! messages and exit statuses. [`args`] parses the command line, [`commands`]
//! reads the store, [`render`] turns values into text.
//!
//! Exit status: 0 ok, 1 damage found, 2 usage error or the store cannot be
//! opened. Output goes to stdout; errors go to stderr. The tool never
//! panics on input: every failure becomes a message and an exit status.

mod args;
mod catalog;
mod commands;
mod explain;
mod failure;
mod json;
mod render;
mod report;
mod timers;

use std::ffi::OsString;
use std::io::{self, Write};
use std::process::ExitCode;

use batpak::{Store, StoreConfig, StoreError};

use crate::args::{Command, USAGE, parse};
use crate::commands::{dump, export, machines, stats, tail, verify};
use crate::failure::{EXIT_DAMAGE, EXIT_OK, EXIT_USAGE, Failure};
use crate::render::Quoted;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let code = match parse(&args) {
        Ok(Command::Help) => print_out(USAGE),
        Ok(Command::Verify { dir }) => run(&dir, Finding::ToStdout, verify),
        Ok(Command::Stats { dir }) => run(&dir, Finding::ToStderr, stats),
        Ok(Command::Dump { dir, options }) => run(&dir, Finding::ToStderr, |store, out| {
            dump(store, &options, out)
        }),
        Ok(Command::Export {
            dir,
            options,
            format,
        }) => run(&dir, Finding::ToStderr, |store, out| {
            export(store, &options, format, out)
        }),
        Ok(Command::Machines { dir }) => run(&dir, Finding::ToStderr, machines),
        Ok(Command::Timers { dir }) => run(&dir, Finding::ToStderr, timers::timers),
        Ok(Command::Explain { dir, entity, scope }) => {
            run(&dir, Finding::ToStderr, |store, out| {
                explain::explain(store, &entity, scope.as_deref(), out)
            })
        }
        Ok(Command::Report { dir, output }) => run(&dir, Finding::ToStderr, |store, out| {
            write_report(store, &dir, &output, out)
        }),
        Ok(Command::Tail {
            dir,
            options,
            ndjson,
        }) => follow(&dir, |out| tail(&dir, &options, ndjson, out)),
        Err(message) => {
            eprintln!("batpak: {message}\n\n{USAGE}");
            EXIT_USAGE
        }
    };
    ExitCode::from(code)
}

/// Runs `tail`, which opens no store (so takes no lock), with stdout
/// unbuffered enough to show events as they come (it flushes per poll).
fn follow(
    dir: &std::path::Path,
    command: impl FnOnce(&mut dyn Write) -> Result<u8, Failure>,
) -> u8 {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let result = command(&mut out);
    let flushed = out.flush();
    match (result, flushed) {
        (Ok(code), Ok(())) => code,
        (Err(Failure::Store(e)), _) => report_store_error(dir, &e),
        (Ok(code), Err(e)) => output_failed(&e, code),
        (Err(Failure::Output(e)), _) => output_failed(&e, EXIT_OK),
        (Err(Failure::Usage(message)), _) => {
            eprintln!("batpak: {message}");
            EXIT_USAGE
        }
    }
}

/// Writes the report page for `store` to `output` (its only write), then
/// says where on `out`.
fn write_report(
    store: &Store,
    dir: &std::path::Path,
    output: &std::path::Path,
    out: &mut dyn Write,
) -> Result<u8, Failure> {
    let mut page = Vec::new();
    let code = report::report(store, dir, &mut page)?;
    std::fs::write(output, &page).map_err(|e| {
        Failure::Usage(format!(
            "cannot write {}: {e}",
            Quoted(&output.to_string_lossy())
        ))
    })?;
    writeln!(out, "wrote {} ({} bytes)", output.display(), page.len())?;
    Ok(code)
}

/// Where a command reports damage that stops it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Finding {
    /// Damage is the answer (`verify`): on stdout, like a clean summary.
    ToStdout,
    /// Damage interrupts the answer (`stats`, `dump`): on stderr.
    ToStderr,
}

/// Opens `dir` read-only, runs `command` with buffered stdout, and turns
/// the outcome into an exit status.
fn run(
    dir: &std::path::Path,
    finding: Finding,
    command: impl FnOnce(&Store, &mut dyn Write) -> Result<u8, Failure>,
) -> u8 {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let config = StoreConfig::new(dir).create_if_missing(false);
    let result = Store::open_read_only(config)
        .map_err(Failure::Store)
        .and_then(|store| command(&store, &mut out));
    // Damage found while opening (the log was scanned, no checkpoint) is
    // the same finding `verify` reports on a store that opened.
    let result = match result {
        Err(Failure::Store(StoreError::Corrupt { at, reason })) if finding == Finding::ToStdout => {
            writeln!(out, "damage: {at}: {reason} (found while opening)")
                .map(|()| EXIT_DAMAGE)
                .map_err(Failure::Output)
        }
        other => other,
    };
    let flushed = out.flush();
    match (result, flushed) {
        (Ok(code), Ok(())) => code,
        (Err(Failure::Store(e)), _) => report_store_error(dir, &e),
        (Ok(code), Err(e)) => output_failed(&e, code),
        (Err(Failure::Output(e)), _) => output_failed(&e, EXIT_OK),
        (Err(Failure::Usage(message)), _) => {
            eprintln!("batpak: {message}");
            EXIT_USAGE
        }
    }
}

/// The exit status after stdout failed: a closed pipe (`batpak dump .. |
/// head`) is the reader having what it wanted, so the command's own status
/// stands; any other write error is reported.
fn output_failed(e: &io::Error, status: u8) -> u8 {
    if e.kind() == io::ErrorKind::BrokenPipe {
        status
    } else {
        eprintln!("batpak: cannot write output: {e}");
        EXIT_USAGE
    }
}

/// Prints a store error to stderr and picks its exit status: damage is 1,
/// everything else (locked, missing, unreadable) is 2.
fn report_store_error(dir: &std::path::Path, e: &StoreError) -> u8 {
    match e {
        StoreError::StoreLocked { .. } => {
            eprintln!(
                "batpak: store {} is locked: a writer has it open; read-only tools cannot \
                 share it with a writer (stop the writing process, or run on a copy)",
                Quoted(&dir.to_string_lossy())
            );
            EXIT_USAGE
        }
        StoreError::Corrupt { at, reason } => {
            eprintln!("damage: {at}: {reason}");
            EXIT_DAMAGE
        }
        other => {
            eprintln!(
                "batpak: cannot read store {}: {other}",
                Quoted(&dir.to_string_lossy())
            );
            EXIT_USAGE
        }
    }
}

/// Prints `text` to stdout (the help).
fn print_out(text: &str) -> u8 {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => EXIT_OK,
        Err(e) => output_failed(&e, EXIT_OK),
    }
}
