//! No import cycles between the source files of `batpak` and `batpak-macros`.
//!
//! Why: definitions sit where their lowest user lives. When two files import
//! each other neither can be read, tested or moved without the other; the fix
//! is to move what both need down into a file both import (or a new one),
//! never to import back up.
//!
//! What counts as an edge, file A -> file B:
//! - A has a `use` or `pub use` item (any visibility) that starts at column 0,
//!   so it is a file-level item, and its path starts with `crate::`,
//!   `super::` or `self::`. Grouped and multi-line forms count path by path:
//!   `use super::{a::X, b::{Y, Z}}` is the three paths `super::a::X`,
//!   `super::b::Y`, `super::b::Z`; `{self, ..}` names the module itself.
//! - The path resolves to B: the longest prefix of its module path that has a
//!   file (`foo.rs` or `foo/mod.rs`; the root is `lib.rs` or `main.rs`). A
//!   bare path whose first segment is a child module of A
//!   (`pub use header::EventHeader` in a facade) counts as `self::`. A
//!   path naming an item resolves to the file of the module holding it, so
//!   `crate::store::segment::Frame` is `store/segment/mod.rs`, and an item a
//!   facade only re-exports still resolves to the facade: import it from the
//!   file that defines it.
//!
//! Not edges: `mod` declarations (a parent holding its children is the tree,
//! not a dependency); indented `use` items, so those inside
//! `#[cfg(test)] mod tests { .. }` and other inline modules (a test may look
//! anywhere); paths into other crates (`std::`, `batpak::`, `syn::`); a file
//! importing itself.
//!
//! Each binary under `src/bin/` is a crate of its own (its root is
//! `src/bin/NAME.rs` or `src/bin/NAME/main.rs`) and is checked on its own.
//! Files are mapped to modules by where they sit; `#[path]` attributes are
//! not followed (those in use include a file from elsewhere: the crash
//! model's shared `Rng` from outside `src/`, and the fuzz module's copy of
//! the CLI's `render.rs`, which is checked as part of the binary).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

/// One crate's source files: path relative to the crate's module directory,
/// `/`-separated (`store/mod.rs`), to the file's text.
type Sources = BTreeMap<String, String>;

/// Each file to the files it imports from.
type Graph = BTreeMap<String, BTreeSet<String>>;

/// A module path (`["store", "segment"]`; the root is empty).
type ModulePath = Vec<String>;

/// A crate to check.
struct Crate {
    /// Its module directory from the workspace root (`batpak/src`), put
    /// before file names in messages.
    dir: String,
    /// Its root file in `sources` (`lib.rs`, `main.rs`, `batpak.rs`).
    root: String,
    sources: Sources,
}

// ---- the checker ----

/// The module a file defines: `store/segment/mod.rs` and `store/segment.rs`
/// are `store::segment`, the root file is the crate root.
fn module_of(file: &str, root: &str) -> ModulePath {
    if file == root {
        return Vec::new();
    }
    let mut path: ModulePath = file
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_owned)
        .collect();
    if path.last().is_some_and(|last| last == "mod") {
        path.pop();
    }
    path
}

/// The text after `use` of every file-level `use` item, up to its `;`,
/// with line comments removed and lines joined.
fn use_items(text: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(mut rest) = after_use_keyword(line) else {
            continue;
        };
        let mut item = String::new();
        loop {
            let code = rest.split("//").next().unwrap_or_default();
            if let Some(end) = code.find(';') {
                item.push_str(&code[..end]);
                break;
            }
            item.push_str(code);
            item.push(' ');
            match lines.next() {
                Some(next) => rest = next,
                None => break,
            }
        }
        items.push(item);
    }
    items
}

/// The rest of `line` after `use` when the line starts a `use` item at
/// column 0, with or without a visibility (`pub`, `pub(crate)`, ...).
fn after_use_keyword(line: &str) -> Option<&str> {
    let mut rest = line;
    if let Some(after_pub) = rest.strip_prefix("pub") {
        let after_vis = match after_pub.strip_prefix('(') {
            Some(inside) => &inside[inside.find(')')? + 1..],
            None => after_pub,
        };
        if !after_vis.starts_with(char::is_whitespace) {
            return None;
        }
        rest = after_vis.trim_start();
    }
    rest.strip_prefix("use")
        .filter(|r| r.starts_with(char::is_whitespace))
}

/// Splits a use tree into `::`, `{`, `}`, `,`, `*` and words.
fn tokens(tree: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut chars = tree.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_alphanumeric() || c == '_' || c == '#' {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
        match c {
            ':' if chars.next_if_eq(&':').is_some() => out.push("::".to_owned()),
            '{' | '}' | ',' | '*' => out.push(c.to_string()),
            _ => {}
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Every path a use tree names, in full: `super::{a::X, b::{self, Y}}`
/// gives `super::a::X`, `super::b` and `super::b::Y`. A glob names its
/// module; `as` renames are dropped.
fn use_paths(tree: &str) -> Vec<ModulePath> {
    let tokens = tokens(tree);
    let mut out = Vec::new();
    let mut at = 0;
    expand(&tokens, &mut at, &[], &mut out);
    for path in &mut out {
        while path.len() > 1 && path.last().is_some_and(|s| s == "self") {
            path.pop();
        }
    }
    out
}

/// Reads one use tree from `tokens[*at..]` under `prefix` into `out`.
fn expand(tokens: &[String], at: &mut usize, prefix: &[String], out: &mut Vec<ModulePath>) {
    let mut path = prefix.to_vec();
    while let Some(token) = tokens.get(*at) {
        *at += 1;
        match token.as_str() {
            "::" => {}
            "*" => break,
            "{" => {
                while tokens.get(*at).is_some_and(|t| t != "}") {
                    let before = *at;
                    expand(tokens, at, &path, out);
                    if tokens.get(*at).is_some_and(|t| t == ",") {
                        *at += 1;
                    }
                    if *at == before {
                        *at += 1; // malformed: never loop in place
                    }
                }
                *at += 1;
                return;
            }
            "," | "}" => {
                *at -= 1; // the end of this tree; the group reads it
                break;
            }
            name => {
                path.push(name.to_owned());
                if tokens.get(*at).is_some_and(|t| t == "as") {
                    *at += 2;
                }
                if tokens.get(*at).is_none_or(|t| t != "::") {
                    break;
                }
            }
        }
    }
    out.push(path);
}

/// The file a path imported in module `from` resolves to: the longest
/// prefix of its module path that has a file. `None` for paths that do not
/// start with `crate`, `super` or `self`.
fn resolve(
    from: &[String],
    path: &[String],
    files: &BTreeMap<ModulePath, String>,
) -> Option<String> {
    let first = path.first()?;
    let (mut module, rest) = match first.as_str() {
        "crate" => (Vec::new(), &path[1..]),
        "self" | "super" => (from.to_vec(), path),
        // A bare path naming a child module of this file means `self::`.
        _ => {
            let mut child = from.to_vec();
            child.push(first.clone());
            if !files.contains_key(&child) {
                return None;
            }
            (from.to_vec(), path)
        }
    };
    let mut rest = rest.iter().peekable();
    while let Some(step) = rest.next_if(|s| *s == "self" || *s == "super") {
        if step == "super" {
            module.pop()?;
        }
    }
    module.extend(rest.cloned());
    while !files.contains_key(&module) {
        module.pop()?;
    }
    files.get(&module).cloned()
}

/// The crate's files and their import edges (see the file docs).
fn file_graph(krate: &Crate) -> Graph {
    let files: BTreeMap<ModulePath, String> = krate
        .sources
        .keys()
        .map(|file| (module_of(file, &krate.root), file.clone()))
        .collect();
    let mut graph = Graph::new();
    for (file, text) in &krate.sources {
        let from = module_of(file, &krate.root);
        let targets = graph.entry(file.clone()).or_default();
        for item in use_items(text) {
            for path in use_paths(&item) {
                if let Some(target) = resolve(&from, &path, &files)
                    && target != *file
                {
                    targets.insert(target);
                }
            }
        }
    }
    graph
}

/// The shortest cycle from `start` back to it, as `[start, .., start]`.
fn shortest_cycle(graph: &Graph, start: &str) -> Option<Vec<String>> {
    let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(file) = queue.pop_front() {
        for next in graph.get(file).into_iter().flatten() {
            if next == start {
                let mut cycle = vec![start.to_owned()];
                let mut at = file;
                while at != start {
                    cycle.push(at.to_owned());
                    at = came_from[at];
                }
                cycle.push(start.to_owned());
                cycle.reverse();
                return Some(cycle);
            }
            if !came_from.contains_key(next.as_str()) {
                came_from.insert(next, file);
                queue.push_back(next);
            }
        }
    }
    None
}

/// Cycles enough to show every file that is on one: for each such file (in
/// name order) not shown yet, the shortest cycle through it.
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    let mut shown = BTreeSet::new();
    let mut out = Vec::new();
    for file in graph.keys() {
        if shown.contains(file) {
            continue;
        }
        if let Some(cycle) = shortest_cycle(graph, file) {
            shown.extend(cycle.iter().cloned());
            out.push(cycle);
        }
    }
    out
}

/// `a.rs -> b.rs -> a.rs`, each file named from the workspace root.
fn show(krate: &Crate, cycle: &[String]) -> String {
    cycle
        .iter()
        .map(|file| {
            if krate.dir.is_empty() {
                file.clone()
            } else {
                format!("{}/{file}", krate.dir)
            }
        })
        .collect::<Vec<_>>()
        .join(" -> ")
}

// ---- the real tree ----

/// The crates to check: each library and each of its binaries.
fn workspace_crates() -> Vec<Crate> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut crates = Vec::new();
    for src in ["batpak/src", "batpak-macros/src"] {
        let dir = workspace.join(src);
        let mut sources = Sources::new();
        read_tree(&dir, &dir, &mut sources);
        crates.push(Crate {
            dir: src.to_owned(),
            root: "lib.rs".to_owned(),
            sources,
        });
        let bin = dir.join("bin");
        for entry in sorted_entries(&bin) {
            let name = entry.file_name().unwrap_or_default().to_string_lossy();
            let rs = name.ends_with(".rs");
            if rs || entry.join("main.rs").is_file() {
                let (crate_dir, root) = if rs {
                    (bin.clone(), name.into_owned())
                } else {
                    (entry.clone(), "main.rs".to_owned())
                };
                let mut sources = Sources::new();
                read_tree(&crate_dir, &crate_dir, &mut sources);
                if rs {
                    // Sibling single-file binaries are other crates.
                    sources.retain(|file, _| *file == root);
                }
                crates.push(Crate {
                    dir: relative(&workspace, &crate_dir),
                    root,
                    sources,
                });
            }
        }
    }
    crates
}

/// Reads every `.rs` file below `dir` into `out`, named relative to `base`;
/// `base/bin` holds other crates and is left out.
fn read_tree(base: &Path, dir: &Path, out: &mut Sources) {
    for entry in sorted_entries(dir) {
        if entry.is_dir() {
            if entry != base.join("bin") {
                read_tree(base, &entry, out);
            }
        } else if entry.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&entry)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", entry.display()));
            out.insert(relative(base, &entry), text);
        }
    }
}

fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    paths.sort();
    paths
}

/// `path` below `base`, `/`-separated.
fn relative(base: &Path, path: &Path) -> String {
    let below = path.strip_prefix(base).unwrap_or(path);
    below
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn library_source_files_import_each_other_without_cycles() {
    let crates = workspace_crates();
    // A wrong directory would find nothing and pass: insist on a real tree.
    for dir in ["batpak/src", "batpak-macros/src"] {
        let krate = crates.iter().find(|c| c.dir == dir).unwrap();
        let edges: usize = file_graph(krate).values().map(BTreeSet::len).sum();
        assert!(
            krate.sources.len() >= 5 && edges >= 5,
            "{dir}: only {} files and {edges} import edges found",
            krate.sources.len()
        );
    }
    let found: Vec<String> = crates
        .iter()
        .flat_map(|krate| {
            cycles(&file_graph(krate))
                .into_iter()
                .map(|cycle| show(krate, &cycle))
        })
        .collect();
    assert!(
        found.is_empty(),
        "{} import cycles between files (every file on one is in a line below). \
         Move what both files need down into a file both import (definitions \
         sit where their lowest user lives):\n{}",
        found.len(),
        found.join("\n")
    );
}

// ---- the checker on small trees ----

fn tree(files: &[(&str, &str)]) -> Crate {
    Crate {
        dir: String::new(),
        root: "lib.rs".to_owned(),
        sources: files
            .iter()
            .map(|(name, text)| ((*name).to_owned(), (*text).to_owned()))
            .collect(),
    }
}

fn shown_cycles(krate: &Crate) -> Vec<String> {
    cycles(&file_graph(krate))
        .iter()
        .map(|cycle| show(krate, cycle))
        .collect()
}

#[test]
fn a_cycle_through_grouped_and_multi_line_imports_is_found() {
    let krate = tree(&[
        (
            "lib.rs",
            "pub mod machine;\npub mod store;\npub mod typestate;\n",
        ),
        (
            "machine.rs",
            "use crate::typestate::{\n    Machine, // the trait\n    State,\n};\n",
        ),
        (
            "typestate.rs",
            "pub(crate) use super::{store::Store, machine::{Gate as G, Step}};\n",
        ),
        ("store/mod.rs", "mod index;\nuse self::index::Index;\n"),
        ("store/index.rs", "use std::fmt;\n"),
    ]);
    assert_eq!(
        shown_cycles(&krate),
        ["machine.rs -> typestate.rs -> machine.rs"]
    );
}

#[test]
fn a_bare_path_to_a_child_module_is_an_edge_and_a_crate_path_is_not() {
    let krate = tree(&[
        ("lib.rs", "pub mod event;\n"),
        (
            "event/mod.rs",
            "mod header;\npub use header::Header;\nuse std::fmt;\nuse serde::Serialize;\n",
        ),
        ("event/header.rs", "use super::Header as _;\n"),
    ]);
    assert_eq!(
        shown_cycles(&krate),
        ["event/header.rs -> event/mod.rs -> event/header.rs"]
    );
}

#[test]
fn a_cycle_through_a_facade_and_its_child_is_found() {
    let krate = tree(&[
        ("lib.rs", "pub mod store;\n"),
        ("store/mod.rs", "mod index;\npub use self::index::Index;\n"),
        ("store/index.rs", "use super::*;\n"),
    ]);
    assert_eq!(
        shown_cycles(&krate),
        ["store/index.rs -> store/mod.rs -> store/index.rs"]
    );
}

#[test]
fn a_tree_importing_only_downward_has_no_cycle() {
    let krate = tree(&[
        (
            "lib.rs",
            "pub mod event;\npub mod store;\npub use store::Store;\n",
        ),
        ("event/mod.rs", "mod id;\npub use self::id::EventId;\n"),
        (
            "event/id.rs",
            "use std::fmt;\n\n#[cfg(test)]\nmod tests {\n    use super::super::*;\n    \
             use crate::store::Store;\n}\n",
        ),
        (
            "store/mod.rs",
            "mod index;\nuse crate::event::EventId;\nuse self::index::{self, Index};\n",
        ),
        (
            "store/index.rs",
            "use super::super::event::{self, id::EventId};\nuse batpak::Store;\n",
        ),
    ]);
    let graph = file_graph(&krate);
    let edges = |file: &str| graph[file].iter().cloned().collect::<Vec<_>>();
    // `pub use store::Store` is a bare path to a child module: an edge.
    assert_eq!(edges("lib.rs"), ["store/mod.rs"]);
    assert_eq!(edges("event/mod.rs"), ["event/id.rs"]);
    assert_eq!(edges("event/id.rs"), Vec::<String>::new());
    assert_eq!(edges("store/mod.rs"), ["event/mod.rs", "store/index.rs"]);
    assert_eq!(edges("store/index.rs"), ["event/id.rs", "event/mod.rs"]);
    assert_eq!(shown_cycles(&krate), Vec::<String>::new());
}

#[test]
fn use_trees_expand_to_one_path_per_name() {
    let paths: Vec<String> = use_items(
        "pub(crate) use super::{a::X, b::{self, Y as Z, c::*}};\nuse crate::d;\n  use crate::e;\n",
    )
    .iter()
    .flat_map(|item| use_paths(item))
    .map(|path| path.join("::"))
    .collect();
    assert_eq!(
        paths,
        [
            "super::a::X",
            "super::b",
            "super::b::Y",
            "super::b::c",
            "crate::d"
        ]
    );
}
