//! `cargo xtask imports`: no import circle inside any crate.
//!
//! Each file of a crate's `src/` is a module. A path a module names — in a `use`
//! declaration, or inline (`crate::pipeline::Telemetry`, `super::flush::Flusher`) — is an
//! arrow to the module that defines the item, found through the re-exports on the way
//! (`use crate::Telemetry` leads to `pipeline::telemetry`, `super::Flusher` to
//! `engine::flush` when `engine` re-exports it from there). Arrows between a module and
//! its own ancestors are the facade pattern (a `mod.rs` re-exports its children, a child
//! uses its parent's items) and are not counted. Every other arrow is lifted to the two
//! siblings under the modules' closest common ancestor (`engine::running` →
//! `pipeline::direct` is `engine` → `pipeline`), and among siblings the arrows must run one
//! way: a circle is reported with the file-level arrows that make it.
//!
//! The reading is lexical and deliberately small: comments and `#[cfg(test)] mod` blocks
//! are left out, macros are not expanded, and a path through a glob re-export ends at the
//! module holding the glob.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// A module, as the segments of its path from the crate root (`[]` is the root).
type ModulePath = Vec<String>;

/// One module of a crate: the file it is in, the child modules it declares and what it
/// re-exports.
#[derive(Debug, Default)]
struct Module {
    file: PathBuf,
    /// The code, without comments and test modules.
    code: String,
    /// Names re-exported here (`pub use child::Name`, aliases included) → the path they
    /// stand for, as written (resolved lazily).
    reexports: BTreeMap<String, Vec<String>>,
}

/// A circle among sibling modules, with the arrows that make it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Circle {
    /// The sibling modules in the circle (`crate::engine`, `crate::pipeline`).
    pub modules: Vec<String>,
    /// File-level arrows between them: `from file → to file (path)`.
    pub arrows: Vec<String>,
}

/// The import circles of the crate whose sources are in `src`.
pub fn circles(src: &Path) -> anyhow::Result<Vec<Circle>> {
    let modules = read_modules(src)?;
    let mut sibling_arrows: BTreeMap<(ModulePath, ModulePath), BTreeSet<String>> = BTreeMap::new();
    for (path, module) in &modules {
        for (written, target) in arrows(path, module, &modules) {
            if is_prefix(path, &target) || is_prefix(&target, path) {
                continue;
            }
            let common = path.iter().zip(&target).take_while(|(a, b)| a == b).count();
            let from = path[..=common].to_vec();
            let to = target[..=common].to_vec();
            let to_file = modules
                .get(&target)
                .map(|m| m.file.display().to_string())
                .unwrap_or_default();
            sibling_arrows
                .entry((from, to))
                .or_default()
                .insert(format!("{} → {to_file} ({written})", module.file.display()));
        }
    }
    let graph: BTreeMap<ModulePath, BTreeSet<ModulePath>> =
        sibling_arrows
            .keys()
            .fold(BTreeMap::new(), |mut graph, (from, to)| {
                graph.entry(from.clone()).or_default().insert(to.clone());
                graph.entry(to.clone()).or_default();
                graph
            });
    let mut found = Vec::new();
    for component in strongly_connected(&graph) {
        if component.len() < 2 {
            continue;
        }
        let members: BTreeSet<&ModulePath> = component.iter().collect();
        let arrows = sibling_arrows
            .iter()
            .filter(|((from, to), _)| members.contains(from) && members.contains(to))
            .flat_map(|(_, files)| files.iter().cloned())
            .collect();
        found.push(Circle {
            modules: component
                .iter()
                .map(|m| format!("crate::{}", m.join("::")))
                .collect(),
            arrows,
        });
    }
    Ok(found)
}

fn is_prefix(prefix: &[String], path: &[String]) -> bool {
    path.len() >= prefix.len() && path[..prefix.len()] == *prefix
}

/// Every module file under `src` (binaries under `src/bin` are crates of their own).
fn read_modules(src: &Path) -> anyhow::Result<BTreeMap<ModulePath, Module>> {
    let mut modules = BTreeMap::new();
    let mut stack = vec![src.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| dir.display().to_string())? {
            let path = entry?.path();
            if path.is_dir() {
                if path != src.join("bin") {
                    stack.push(path);
                }
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let relative = path.strip_prefix(src)?.with_extension("");
            let mut segments: ModulePath = relative
                .iter()
                .map(|s| s.to_string_lossy().into_owned())
                .collect();
            if matches!(
                segments.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                segments.pop();
            }
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let code = without_tests(&without_comments(&text));
            let reexports = reexports(&code);
            modules.insert(
                segments,
                Module {
                    file: path,
                    code,
                    reexports,
                },
            );
        }
    }
    Ok(modules)
}

/// The text without `//` and `/* */` comments and without string literals' contents (a
/// URL's `//` is not a comment, and a path in a message is not an import).
fn without_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                out.push('"');
                let mut escaped = false;
                for c in chars.by_ref() {
                    if c == '"' && !escaped {
                        break;
                    }
                    escaped = c == '\\' && !escaped;
                }
                out.push('"');
            }
            '\'' => {
                // A char literal ('"', '\'', '\u{7f}') or a lifetime ('a): skip a literal
                // whole.
                let rest: String = chars.clone().take(12).collect();
                let literal_len = if rest.starts_with('\\') {
                    rest.get(2..).and_then(|r| r.find('\'')).map(|i| i + 3)
                } else if rest.chars().nth(1) == Some('\'') {
                    Some(2)
                } else {
                    None
                };
                out.push('\'');
                if let Some(len) = literal_len {
                    for _ in 0..len {
                        chars.next();
                    }
                    out.push('\'');
                }
            }
            '#' if out.ends_with('r') && matches!(chars.peek(), Some('"' | '#')) => {
                // A raw string, r#"…"#: up to the quote followed by as many hashes.
                let mut hashes = 1;
                while chars.peek() == Some(&'#') {
                    chars.next();
                    hashes += 1;
                }
                chars.next();
                let closing: String = std::iter::once('"')
                    .chain(std::iter::repeat_n('#', hashes))
                    .collect();
                let mut seen = String::new();
                for c in chars.by_ref() {
                    seen.push(c);
                    if seen.ends_with(&closing) {
                        break;
                    }
                }
                out.push_str("\"\"");
            }
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut previous = ' ';
                for c in chars.by_ref() {
                    if previous == '*' && c == '/' {
                        break;
                    }
                    previous = c;
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// The code without `#[cfg(test)]` modules: their `super` is the file's own module, and
/// tests may reach anywhere.
fn without_tests(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "#[cfg(test)]".len()..];
        let trimmed = after.trim_start();
        if let Some(open) = trimmed
            .starts_with("mod ")
            .then(|| trimmed.find('{'))
            .flatten()
        {
            let mut depth = 0usize;
            let mut end = trimmed.len();
            for (i, c) in trimmed[open..].char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = open + i + 1;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            rest = &trimmed[end..];
            continue;
        }
        out.push_str("#[cfg(test)]");
        rest = after;
    }
    out.push_str(rest);
    out
}

/// The `use` declarations of `code`: (visible outside the module, the paths they name,
/// each with the name it binds).
/// A path as written (its segments) and the name it binds.
type UsePath = (Vec<String>, String);

fn use_declarations(code: &str) -> Vec<(bool, Vec<UsePath>)> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    let mut from = 0;
    while let Some(at) = code[from..].find("use ") {
        let start = from + at;
        from = start + 4;
        let boundary =
            start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        if !boundary {
            continue;
        }
        let line_start = code[..start].rfind('\n').map_or(0, |i| i + 1);
        let before = code[line_start..start].trim();
        // `use` starts a statement: at the start of a line, after a visibility or `}`.
        let visible = before.starts_with("pub");
        if !(before.is_empty() || visible || before.ends_with('}') || before.ends_with(';')) {
            continue;
        }
        let Some(end) = code[start..].find(';') else {
            break;
        };
        let tree = code[start + 4..start + end]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let mut paths = Vec::new();
        expand(&[], &tree, &mut paths);
        found.push((visible, paths));
        from = start + end;
    }
    found
}

/// Expands a use tree (`a::{b, c::{d as e, self}}`) into its paths and bound names.
fn expand(prefix: &[String], tree: &str, out: &mut Vec<UsePath>) {
    let tree = tree.trim().trim_start_matches("::");
    if let Some(open) = tree.find('{') {
        let head: Vec<String> = tree[..open]
            .split("::")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let mut base = prefix.to_vec();
        base.extend(head);
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let mut depth = 0;
        let mut part = String::new();
        for c in inner.chars() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(&base, &part, out);
                    part.clear();
                    continue;
                }
                _ => {}
            }
            part.push(c);
        }
        if !part.is_empty() {
            expand(&base, &part, out);
        }
        return;
    }
    let (path, alias) = match tree.split_once(" as ") {
        Some((path, alias)) => (path, Some(alias.trim())),
        None => (tree, None),
    };
    let mut segments = prefix.to_vec();
    segments.extend(
        path.split("::")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
    );
    if segments.last().map(String::as_str) == Some("self") {
        segments.pop();
    }
    let Some(last) = segments.last().cloned() else {
        return;
    };
    out.push((segments, alias.unwrap_or(&last).to_owned()));
}

fn reexports(code: &str) -> BTreeMap<String, Vec<String>> {
    use_declarations(code)
        .into_iter()
        .filter(|(visible, _)| *visible)
        .flat_map(|(_, paths)| paths)
        .filter(|(_, name)| name != "*" && name != "_")
        .map(|(path, name)| (name, path))
        .collect()
}

/// The modules `module` (at `path`) points at, each with the path as written.
fn arrows(
    path: &ModulePath,
    module: &Module,
    modules: &BTreeMap<ModulePath, Module>,
) -> Vec<(String, ModulePath)> {
    let mut written: Vec<Vec<String>> = use_declarations(&module.code)
        .into_iter()
        .flat_map(|(_, paths)| paths.into_iter().map(|(path, _)| path))
        .collect();
    // Inline paths: `crate::a::b`, `super::a`, `self::a`.
    let code = &module.code;
    for anchor in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(at) = code[from..].find(anchor) {
            let start = from + at;
            from = start + anchor.len();
            let before = code[..start].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':' || c == '$') {
                continue;
            }
            let path: Vec<String> = code[start..]
                .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .next()
                .unwrap_or_default()
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            written.push(path);
        }
    }
    let mut found = Vec::new();
    for segments in written {
        if let Some(target) = resolve(path, &segments, modules, 0).filter(|t| t != path) {
            found.push((segments.join("::"), target));
        }
    }
    found
}

/// The module that defines what `segments` names, seen from module `at`; `None` for paths
/// outside the crate.
fn resolve(
    at: &ModulePath,
    segments: &[String],
    modules: &BTreeMap<ModulePath, Module>,
    depth: usize,
) -> Option<ModulePath> {
    if depth > 16 || segments.is_empty() {
        return None;
    }
    let mut current: ModulePath = match segments[0].as_str() {
        "crate" => Vec::new(),
        "super" | "self" => at.clone(),
        first => {
            // A child module or a re-exported name of this module, else another crate.
            let mut child = at.clone();
            child.push(first.to_owned());
            if modules.contains_key(&child) {
                at.clone()
            } else if let Some(target) = modules.get(at).and_then(|m| m.reexports.get(first)) {
                if target.as_slice() == segments {
                    return None;
                }
                return resolve(at, target, modules, depth + 1);
            } else {
                return None;
            }
        }
    };
    let mut rest = match segments[0].as_str() {
        "crate" | "self" => &segments[1..],
        "super" => {
            let mut rest = segments;
            while rest.first().map(String::as_str) == Some("super") {
                current.pop();
                rest = &rest[1..];
            }
            rest
        }
        _ => segments,
    };
    while let Some(next) = rest.first() {
        let mut child = current.clone();
        child.push(next.clone());
        if modules.contains_key(&child) {
            current = child;
            rest = &rest[1..];
            continue;
        }
        // An item of `current`: defined there, or re-exported from elsewhere.
        if let Some(target) = modules
            .get(&current)
            .and_then(|m| m.reexports.get(next.as_str()))
        {
            let mut target = target.clone();
            target.extend(rest[1..].iter().cloned());
            return resolve(&current, &target, modules, depth + 1).or(Some(current));
        }
        break;
    }
    Some(current)
}

/// Tarjan's strongly connected components.
fn strongly_connected(graph: &BTreeMap<ModulePath, BTreeSet<ModulePath>>) -> Vec<Vec<ModulePath>> {
    struct State<'a> {
        graph: &'a BTreeMap<ModulePath, BTreeSet<ModulePath>>,
        index: BTreeMap<&'a ModulePath, usize>,
        low: BTreeMap<&'a ModulePath, usize>,
        stack: Vec<&'a ModulePath>,
        on_stack: BTreeSet<&'a ModulePath>,
        components: Vec<Vec<ModulePath>>,
    }
    fn visit<'a>(state: &mut State<'a>, node: &'a ModulePath) {
        let next = state.index.len();
        state.index.insert(node, next);
        state.low.insert(node, next);
        state.stack.push(node);
        state.on_stack.insert(node);
        for target in &state.graph[node] {
            if !state.index.contains_key(target) {
                visit(state, target);
                let low = state.low[node].min(state.low[target]);
                state.low.insert(node, low);
            } else if state.on_stack.contains(target) {
                let low = state.low[node].min(state.index[target]);
                state.low.insert(node, low);
            }
        }
        if state.low[node] == state.index[node] {
            let mut component = Vec::new();
            while let Some(member) = state.stack.pop() {
                state.on_stack.remove(member);
                component.push(member.clone());
                if member == node {
                    break;
                }
            }
            component.sort();
            state.components.push(component);
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        components: Vec::new(),
    };
    for node in graph.keys() {
        if !state.index.contains_key(node) {
            visit(&mut state, node);
        }
    }
    state.components
}

/// `cargo xtask imports`: checks every crate of the workspace; an error lists each circle.
pub fn check(root: &Path) -> anyhow::Result<()> {
    let mut report = String::new();
    let mut crates = 0;
    for dir in workspace_crates(root)? {
        let src = dir.join("src");
        if !src.is_dir() {
            continue;
        }
        crates += 1;
        for circle in circles(&src)? {
            report.push_str(&format!(
                "{}: {}\n",
                dir.strip_prefix(root).unwrap_or(&dir).display(),
                circle.modules.join(" ⇄ ")
            ));
            for arrow in &circle.arrows {
                report.push_str(&format!("    {arrow}\n"));
            }
        }
    }
    if report.is_empty() {
        println!("imports: no circle in {crates} crates");
        Ok(())
    } else {
        anyhow::bail!("import circles (arrows between sibling modules must run one way):\n{report}")
    }
}

/// The member directories of the workspace (`examples/*` expanded).
fn workspace_crates(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    for member in [
        "core",
        "messaging",
        "aws",
        "azure",
        "gcp",
        "integration-tests",
        "xtask",
        "bench",
    ] {
        dirs.push(root.join(member));
    }
    for entry in std::fs::read_dir(root.join("examples"))? {
        dirs.push(entry?.path());
    }
    dirs.sort();
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A crate laid out from `(path, text)` pairs in a fresh folder.
    fn layout(name: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-imports-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (path, text) in files {
            let file = dir.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, text).unwrap();
        }
        dir
    }

    fn names(circles: &[Circle]) -> Vec<Vec<String>> {
        circles.iter().map(|c| c.modules.clone()).collect()
    }

    #[test]
    fn two_siblings_that_import_each_other_are_a_circle() {
        let src = layout(
            "two",
            &[
                ("lib.rs", "mod engine;\nmod pipeline;\n"),
                ("engine/mod.rs", "mod flush;\npub use flush::Flusher;\n"),
                (
                    "engine/flush.rs",
                    "use crate::pipeline::direct::Handle;\npub struct Flusher;\n",
                ),
                ("pipeline/mod.rs", "pub(crate) mod direct;\n"),
                (
                    "pipeline/direct.rs",
                    "// use crate::engine::Nothing;\npub struct Handle(crate::engine::Flusher);\n",
                ),
            ],
        );
        let found = circles(&src).unwrap();
        assert_eq!(
            names(&found),
            [["crate::engine", "crate::pipeline"]],
            "{found:#?}"
        );
        // The arrows name the files and the paths, and the re-export is followed.
        let arrows = found[0].arrows.join("\n");
        assert!(arrows.contains("engine/flush.rs →"), "{arrows}");
        assert!(arrows.contains("(crate::engine::Flusher)"), "{arrows}");
        assert!(
            arrows.contains("engine/flush.rs (crate::engine::Flusher)"),
            "{arrows}"
        );
    }

    #[test]
    fn a_circle_through_a_root_reexport_and_super_is_found() {
        let src = layout(
            "reexport",
            &[
                ("lib.rs", "mod a;\nmod b;\npub use b::Thing;\n"),
                ("a/mod.rs", "mod inner;\n"),
                ("a/inner.rs", "use crate::Thing;\n"),
                (
                    "b.rs",
                    "pub struct Thing;\nfn f() { let _ = super::a::X; }\n",
                ),
            ],
        );
        assert_eq!(names(&circles(&src).unwrap()), [["crate::a", "crate::b"]]);
    }

    #[test]
    fn a_facade_and_one_way_arrows_are_no_circle() {
        let src = layout(
            "facade",
            &[
                ("lib.rs", "pub mod engine;\npub use engine::Engine;\n"),
                (
                    "engine/mod.rs",
                    "mod running;\npub use running::Engine;\npub struct Config;\n",
                ),
                (
                    "engine/running.rs",
                    "use super::Config;\nuse crate::Engine as E;\npub struct Engine;\n\
                     #[cfg(test)]\nmod tests { use crate::other::Z; }\n",
                ),
                (
                    "other.rs",
                    "use crate::engine::Config;\nconst S: &str = \"crate::engine::x // not a comment\";\n",
                ),
            ],
        );
        assert_eq!(names(&circles(&src).unwrap()), Vec::<Vec<String>>::new());
    }

    #[test]
    fn use_trees_expand_with_aliases_and_self() {
        let mut paths = Vec::new();
        expand(&[], "crate::{a::B, c::{self, D as E}}", &mut paths);
        assert_eq!(
            paths,
            [
                (vec!["crate".into(), "a".into(), "B".into()], "B".to_owned()),
                (vec!["crate".into(), "c".into()], "c".to_owned()),
                (vec!["crate".into(), "c".into(), "D".into()], "E".to_owned()),
            ]
        );
    }
}
