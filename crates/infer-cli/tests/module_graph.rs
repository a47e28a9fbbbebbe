//! The harness's library modules point one way: no two import each other, and there is no longer
//! cycle either. Reads every `crate::…` path (in `use` lines, `use crate::{…}` groups and inline
//! calls) of every file under `src/`, test modules included; a file belongs to its top-level
//! module (`src/compare/plan.rs` is `compare`). The binary (`main.rs`, `cli/`) is a separate crate
//! whose `crate::` means itself, so it is left out.
#![allow(clippy::unwrap_used)]

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

/// Module → (imported module → the first `file:line` that imports it).
type Graph = BTreeMap<String, BTreeMap<String, String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file under `src/` belongs to.
fn module_of(relative: &Path) -> String {
    let first = relative.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
    first.strip_suffix(".rs").map_or(first.clone(), str::to_string)
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The top-level modules named by the `crate::` paths of one line (comments removed), with
/// `use crate::{a::x, b}` groups that may span lines handled by the caller joining them.
fn crate_paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| is_ident(c) || c == '$') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level items of the group: the first segment of each, at brace depth 0.
            let (mut depth, mut item, mut start) = (0usize, String::new(), true);
            let mut flush = |item: &mut String| {
                if !item.is_empty() {
                    out.push(std::mem::take(item));
                }
            };
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        flush(&mut item);
                        start = true;
                    }
                    c if start && depth == 0 && is_ident(c) => item.push(c),
                    _ if start && !item.is_empty() => {
                        flush(&mut item);
                        start = false;
                    }
                    _ => {}
                }
            }
            flush(&mut item);
        } else {
            let name: String = rest.chars().take_while(|&c| is_ident(c)).collect();
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    out
}

/// The source without comments, each `use crate::{…}` group joined onto its first line.
fn code_lines(text: &str) -> Vec<(usize, String)> {
    let mut lines: Vec<(usize, String)> = Vec::new();
    let mut open = 0i32;
    for (i, line) in text.lines().enumerate() {
        let code = line.find("//").map_or(line, |at| &line[..at]);
        if open > 0 {
            let last = lines.last_mut().unwrap();
            last.1.push(' ');
            last.1.push_str(code);
        } else {
            lines.push((i + 1, code.to_string()));
        }
        let last = &lines.last().unwrap().1;
        open = if last.contains("crate::{") {
            i32::try_from(last.matches('{').count()).unwrap() - i32::try_from(last.matches('}').count()).unwrap()
        } else {
            0
        };
    }
    lines
}

/// The test-only module of shared fixtures (see [`graph_of`]).
const TEST_FIXTURES: &str = "testing";

fn graph_of(files: &[(PathBuf, String)]) -> Graph {
    let mut graph = Graph::new();
    for (relative, text) in files {
        let from = module_of(relative);
        let edges = graph.entry(from.clone()).or_default();
        for (line, code) in code_lines(text) {
            for to in crate_paths(&code) {
                // `testing` (`#[cfg(test)]`) builds fixtures for the unit tests of the modules
                // whose types it builds: a test helper, not a layer, so edges into it are left out.
                if to != from && to != TEST_FIXTURES {
                    edges.entry(to).or_insert_with(|| format!("{}:{line}", relative.display()));
                }
            }
        }
    }
    graph
}

/// The cycles a depth-first walk meets (at least one whenever there is any), each as its
/// modules in order with where each step imports the next.
fn cycles(graph: &Graph) -> Vec<String> {
    fn visit(
        graph: &Graph,
        node: &str,
        path: &mut Vec<String>,
        finished: &mut BTreeSet<String>,
        found: &mut Vec<String>,
    ) {
        if let Some(at) = path.iter().position(|p| p == node) {
            let cycle: Vec<String> = path[at..]
                .iter()
                .zip(path[at + 1..].iter().chain([&node.to_string()]))
                .map(|(a, b)| format!("{a} → {b} ({})", graph[a][b]))
                .collect();
            found.push(cycle.join(", "));
            return;
        }
        if finished.contains(node) {
            return;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flat_map(BTreeMap::keys) {
            visit(graph, next, path, finished, found);
        }
        path.pop();
        finished.insert(node.to_string());
    }
    let mut found = Vec::new();
    let mut finished = BTreeSet::new();
    for node in graph.keys() {
        visit(graph, node, &mut Vec::new(), &mut finished, &mut found);
    }
    found
}

fn harness_sources() -> Vec<(PathBuf, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files
        .into_iter()
        .map(|f| f.strip_prefix(&src).unwrap().to_path_buf())
        .filter(|r| r != Path::new("main.rs") && !r.starts_with("cli"))
        .map(|r| {
            let text = std::fs::read_to_string(src.join(&r)).unwrap();
            (r, text)
        })
        .collect()
}

#[test]
fn no_two_harness_modules_import_each_other() {
    let graph = graph_of(&harness_sources());
    // The reader sees the pipeline's edges (so an empty graph cannot pass by accident).
    for (from, to) in
        [("compare", "runner"), ("compare", "reporters"), ("reporters", "analysis"), ("batch_search", "runner")]
    {
        assert!(graph.get(from).is_some_and(|e| e.contains_key(to)), "{from} → {to} not found: {graph:#?}");
    }
    let found = cycles(&graph);
    assert!(found.is_empty(), "import cycles between harness modules:\n{}", found.join("\n"));
}

#[test]
fn the_reader_finds_groups_inline_paths_and_cycles() {
    let files = vec![
        (
            PathBuf::from("a.rs"),
            "//! [`crate::c`] in a doc comment is no import\nuse crate::{\n    b::{X, Y},\n    d,\n};\nfn f() { crate::e::g(); }\n"
                .to_string(),
        ),
        (PathBuf::from("b/mod.rs"), "use super::x;\n".to_string()),
        (PathBuf::from("b/inner.rs"), "use crate::a::Z; // crate::f\nmacro_rules! m { () => { $crate::q } }\n".into()),
    ];
    let graph = graph_of(&files);
    let edges = |m: &str| graph[m].keys().cloned().collect::<Vec<_>>();
    assert_eq!(edges("a"), ["b", "d", "e"]);
    assert_eq!(edges("b"), ["a"]);
    assert_eq!(cycles(&graph), ["a → b (a.rs:2), b → a (b/inner.rs:1)"]);
}
