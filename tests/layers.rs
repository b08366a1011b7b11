//! The layer check: every `crate::`/`super::` path in `src/` points down the
//! layers ARCHITECTURE.md draws, and no two source files import each other
//! (directly or round a longer circle).
//!
//! It reads the source as text: a path is any `crate::a::b` or
//! `super::a::b` outside comments, with `use` groups (`{a, b::{c, d}}`)
//! expanded.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first. A part may use the parts of lower layers and
/// its own; parts sharing a layer (the HTTP front ends) may not use each
/// other.
const LAYERS: &[&[&str]] = &[
    &["domain", "clock"],
    &["config"],
    &["telemetry"],
    &["store"],
    &["notify"],
    &["integrations"],
    &["jobs"],
    &["http"],
    &[
        "http::service_manager",
        "http::operator",
        "http::activation",
    ],
    &["http::console"],
    &["http::openapi"],
    &["startup"],
    &["cli"],
    &["main"],
];

/// Modules under `http/` that are parts of their own; the rest of `http/`
/// is what all front ends share.
const HTTP_PARTS: &[&str] = &[
    "service_manager",
    "operator",
    "activation",
    "console",
    "openapi",
];

fn layer_of(part: &str) -> usize {
    LAYERS
        .iter()
        .position(|layer| layer.contains(&part))
        .unwrap_or_else(|| panic!("part `{part}` is in no layer: add it to LAYERS"))
}

/// The part a module path (`["http", "console", "pages"]`) belongs to.
fn part_of(module: &[String]) -> String {
    match module {
        [] => "lib".to_owned(),
        [first, second, ..] if first == "http" && HTTP_PARTS.contains(&second.as_str()) => {
            format!("http::{second}")
        }
        [first, ..] => first.clone(),
    }
}

/// A source file and the module path it defines.
struct SourceFile {
    path: PathBuf,
    module: Vec<String>,
    text: String,
}

fn source_files() -> Vec<SourceFile> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut pending = vec![root.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(&root).expect("under src");
                let mut module: Vec<String> = relative
                    .with_extension("")
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
                    module.pop();
                }
                let text = std::fs::read_to_string(&path).expect("read a source file");
                files.push(SourceFile { path, module, text });
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

/// The text without comments and string literals, which may mention
/// paths without using them.
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                let mut previous = ' ';
                for c in chars.by_ref() {
                    if previous == '*' && c == '/' {
                        break;
                    }
                    previous = c;
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        break;
                    }
                }
                out.push_str("\"\"");
            }
            // A char literal such as '"' must not open a string.
            '\'' => {
                let rest: String = chars.clone().take(3).collect();
                if rest.starts_with("\\") || rest.chars().nth(1) == Some('\'') {
                    for c in chars.by_ref() {
                        if c == '\'' {
                            break;
                        }
                    }
                }
                out.push('\'');
            }
            _ => out.push(c),
        }
    }
    out
}

/// Every path that starts with `crate::` or `super::`, each as the full
/// module path it names (groups expanded), resolved against `module`.
fn referenced_paths(module: &[String], text: &str) -> Vec<Vec<String>> {
    let code = code_only(text);
    let bytes = code.as_bytes();
    let mut paths = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let at_word_start = i == 0
            || !(bytes[i - 1].is_ascii_alphanumeric()
                || bytes[i - 1] == b'_'
                || bytes[i - 1] == b'$');
        if at_word_start && (code[i..].starts_with("crate::") || code[i..].starts_with("super::")) {
            let mut base: Vec<String> = Vec::new();
            let mut rest = &code[i..];
            if let Some(after) = rest.strip_prefix("crate::") {
                rest = after;
            } else {
                base = module.to_vec();
                while let Some(after) = rest.strip_prefix("super::") {
                    base.pop();
                    rest = after;
                }
            }
            let consumed = code[i..].len() - rest.len();
            let (found, used) = parse_tree(rest, &base);
            paths.extend(found);
            i += consumed + used.max(1);
        } else {
            i += 1;
        }
    }
    paths
}

/// Parses `a::b::{c, d::e}` at the start of `text` into full paths under
/// `base`; returns them and the bytes consumed.
fn parse_tree(text: &str, base: &[String]) -> (Vec<Vec<String>>, usize) {
    let mut path = base.to_vec();
    let mut i = 0;
    let bytes = text.as_bytes();
    loop {
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
        if i > start {
            path.push(text[start..i].to_owned());
        }
        let group = if text[i..].starts_with("::{") {
            Some(3)
        } else if i == start && text[i..].starts_with('{') {
            Some(1)
        } else {
            None
        };
        if let Some(open) = group {
            i += open;
            let mut found = Vec::new();
            loop {
                while i < bytes.len() && (bytes[i] as char).is_whitespace() {
                    i += 1;
                }
                if i >= bytes.len() || bytes[i] == b'}' {
                    i += 1;
                    break;
                }
                let (inner, used) = parse_tree(&text[i..], &path);
                found.extend(inner);
                i += used;
                while i < bytes.len() && (bytes[i] as char).is_whitespace() {
                    i += 1;
                }
                if i < bytes.len() && bytes[i] == b',' {
                    i += 1;
                }
            }
            return (found, i);
        }
        if text[i..].starts_with("::") {
            i += 2;
            continue;
        }
        // `self` in a group names the group's own module.
        if path.last().is_some_and(|s| s == "self") {
            path.pop();
        }
        return (vec![path], i);
    }
}

/// The source file a module path lives in: the longest prefix that is a
/// file of the crate.
fn file_of<'a>(path: &[String], files: &'a BTreeMap<Vec<String>, PathBuf>) -> Option<&'a PathBuf> {
    (1..=path.len())
        .rev()
        .find_map(|len| files.get(&path[..len]))
}

#[test]
fn imports_only_point_down_the_layers() {
    let files = source_files();
    let mut climbing = BTreeSet::new();
    for file in &files {
        let from = part_of(&file.module);
        if from == "lib" {
            continue;
        }
        for path in referenced_paths(&file.module, &file.text) {
            let to = part_of(&path);
            let Some(first) = path.first() else { continue };
            // Macros exported at the crate root (`crate::on_backend!`).
            if !files.iter().any(|f| f.module.first() == Some(first)) || to == from {
                continue;
            }
            if layer_of(&to) >= layer_of(&from) {
                climbing.insert(format!(
                    "{} ({from}) uses crate::{} ({to})",
                    file.path
                        .strip_prefix(env!("CARGO_MANIFEST_DIR"))
                        .unwrap()
                        .display(),
                    path.join("::")
                ));
            }
        }
    }
    assert!(
        climbing.is_empty(),
        "imports that do not point down the layers (see ARCHITECTURE.md):\n{}",
        climbing.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn no_two_files_import_each_other() {
    let files = source_files();
    let by_module: BTreeMap<Vec<String>, PathBuf> = files
        .iter()
        .map(|f| (f.module.clone(), f.path.clone()))
        .collect();
    // A folder's mod.rs assembles its files; its edges to them are not
    // circles of their making, so mod.rs files are left out of the graph.
    let is_assembly = |path: &Path| {
        path.file_name()
            .is_some_and(|n| n == "mod.rs" || n == "lib.rs")
    };
    let mut edges: BTreeMap<&PathBuf, BTreeSet<&PathBuf>> = BTreeMap::new();
    for file in &files {
        if is_assembly(&file.path) {
            continue;
        }
        for path in referenced_paths(&file.module, &file.text) {
            if let Some(target) = file_of(&path, &by_module) {
                if *target != file.path && !is_assembly(target) {
                    edges.entry(&file.path).or_default().insert(target);
                }
            }
        }
    }
    let mut circles = Vec::new();
    for (from, targets) in &edges {
        for to in targets {
            if reaches(&edges, to, from) {
                circles.push(format!(
                    "{} -> {}",
                    from.strip_prefix(env!("CARGO_MANIFEST_DIR"))
                        .unwrap()
                        .display(),
                    to.strip_prefix(env!("CARGO_MANIFEST_DIR"))
                        .unwrap()
                        .display()
                ));
            }
        }
    }
    assert!(
        circles.is_empty(),
        "source files on a circle of imports:\n{}",
        circles.join("\n")
    );
}

fn reaches(edges: &BTreeMap<&PathBuf, BTreeSet<&PathBuf>>, from: &PathBuf, to: &PathBuf) -> bool {
    let mut seen = BTreeSet::new();
    let mut pending = vec![from];
    while let Some(next) = pending.pop() {
        if next == to {
            return true;
        }
        if seen.insert(next) {
            pending.extend(edges.get(next).into_iter().flatten().copied());
        }
    }
    false
}

#[test]
fn the_path_reader_expands_groups_and_supers() {
    let module = vec!["http".to_owned(), "console".to_owned(), "pages".to_owned()];
    let text = "use crate::{config::Settings, store::{self, outbox::Row}};\n\
                // use crate::jobs::Ignored;\n\
                let s = \"crate::notify::Ignored\";\n\
                use super::super::error::ApiError;\n\
                fn f() { crate::domain::thing(); }";
    let found: Vec<String> = referenced_paths(&module, text)
        .into_iter()
        .map(|p| p.join("::"))
        .collect();
    assert_eq!(
        found,
        [
            "config::Settings",
            "store",
            "store::outbox::Row",
            "http::error::ApiError",
            "domain::thing"
        ]
    );
    assert_eq!(part_of(&["http".into(), "console".into()]), "http::console");
    assert_eq!(part_of(&["http".into(), "error".into()]), "http");
    assert!(layer_of("store") < layer_of("http::operator"));
}
