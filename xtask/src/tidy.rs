//! Checks of the code's shape that run as `cargo test -p xtask` (rust-analyzer's `tidy`): no two
//! modules of any crate import each other (Cargo already keeps the crates themselves acyclic and
//! pointing one way), no source file above [`MAX_FILE_LINES`] lines and no function above
//! [`MAX_FN_LINES`] lines, except a parser's dispatch loop named in [`LONG_FUNCTIONS`].
//!
//! The module graph is read at two levels. Between a crate's top-level modules: from every
//! `crate::…` path (in `use` lines, `use crate::{…}` groups and inline calls) of every file under
//! its `src/`, test modules included; a file belongs to its top-level module (`src/compare/plan.rs`
//! is `compare`). Between the files and folders of each module folder (`scenario/server.rs`,
//! `scenario/worker.rs`): from `super::…` paths of the files directly in it and `crate::FOLDER::…`
//! paths of any file inside it, unit tests left out. Binaries (`main.rs`, `bin/`) are crates of
//! their own and left out.
#![allow(clippy::unwrap_used)]

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use crate::util::root;

/// The most lines a source file may have.
pub const MAX_FILE_LINES: usize = 800;
/// The most lines a function may have.
pub const MAX_FN_LINES: usize = 150;
/// Functions allowed above [`MAX_FN_LINES`]: a parser's dispatch loop, one `match` arm per opcode,
/// reads best whole.
pub const LONG_FUNCTIONS: &[(&str, &str)] = &[("crates/infer-torch/src/checkpoint/pickle.rs", "run")];

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

/// Every path that follows `root` (`crate::`, `super::`) in one line (comments removed), as its
/// segments, each `{…}` group expanded (`crate::{a::{X, Y}, d}` gives `a::X`, `a::Y` and `d`);
/// a `root` inside a longer path or a macro's `$crate::` is not one.
fn use_paths(code: &str, root: &str) -> Vec<Vec<String>> {
    /// Parses one use tree from `chars[*at..]` into `out`, each path after `prefix`.
    fn tree(chars: &[char], at: &mut usize, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        let depth = prefix.len();
        loop {
            while chars.get(*at).is_some_and(|c| c.is_whitespace()) {
                *at += 1;
            }
            if chars.get(*at) == Some(&'{') {
                *at += 1;
                loop {
                    tree(chars, at, prefix, out);
                    // Past an `as` rename or anything else to the item's end.
                    while chars.get(*at).is_some_and(|&c| c != ',' && c != '}') {
                        *at += 1;
                    }
                    match chars.get(*at) {
                        Some(',') => *at += 1,
                        Some('}') => {
                            *at += 1;
                            break;
                        }
                        _ => break,
                    }
                }
                break;
            }
            let name: String = chars[*at..].iter().take_while(|&&c| is_ident(c) || c == '*').collect();
            if name.is_empty() {
                break;
            }
            *at += name.chars().count();
            prefix.push(name);
            if chars[*at..].starts_with(&[':', ':']) {
                *at += 2;
            } else {
                out.push(prefix.clone());
                break;
            }
        }
        prefix.truncate(depth);
    }
    let chars: Vec<char> = code.chars().collect();
    let root: Vec<char> = root.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i + root.len() <= chars.len() {
        let before = i.checked_sub(1).map(|b| chars[b]);
        if chars[i..].starts_with(&root) && !before.is_some_and(|c| is_ident(c) || c == '$' || c == ':') {
            let mut at = i + root.len();
            tree(&chars, &mut at, &mut Vec::new(), &mut out);
            i = at.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// The top-level modules named by the `crate::` paths of one line (see [`use_paths`]).
fn crate_paths(code: &str) -> Vec<String> {
    use_paths(code, "crate::").into_iter().filter_map(|p| p.into_iter().next()).collect()
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

/// The folders under `src/` that hold modules of their own (`scenario`, `workload/lengths`).
fn module_folders(files: &[(PathBuf, String)]) -> BTreeSet<PathBuf> {
    files
        .iter()
        .flat_map(|(r, _)| r.ancestors().skip(1))
        .filter(|a| !a.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .collect()
}

/// The text before its unit tests (a `#[cfg(test)]` line followed by a `mod` line): a module's
/// tests may drive it through the modules that use it (a stream's tests through the server).
fn without_unit_tests(text: &str) -> &str {
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .windows(2)
        .position(|w| w[0].trim() == "#[cfg(test)]" && w[1].trim_start().starts_with("mod "))
        .map_or(text.len(), |i| lines[..i].iter().map(|l| l.len() + 1).sum());
    &text[..at.min(text.len())]
}

/// The imports among the children of `folder` (the files and folders directly in it, its
/// `mod.rs` aside: the parent that declares them): a child imports a sibling through
/// `super::NAME` (from a file directly in the folder) or `crate::FOLDER::NAME` (from anywhere
/// inside it), unit tests left out ([`without_unit_tests`]).
fn graph_in(folder: &Path, files: &[(PathBuf, String)]) -> Graph {
    let segments: Vec<String> = folder.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    let children: Vec<(&PathBuf, &Path, &String)> = files
        .iter()
        .filter_map(|(relative, text)| Some((relative, relative.strip_prefix(folder).ok()?, text)))
        .filter(|(_, inside, _)| *inside != Path::new("mod.rs"))
        .collect();
    let mut graph: Graph = children.iter().map(|(_, inside, _)| (module_of(inside), BTreeMap::new())).collect();
    for (relative, inside, text) in children {
        let from = module_of(inside);
        for (line, code) in code_lines(without_unit_tests(text)) {
            let mut named: Vec<String> = use_paths(&code, "crate::")
                .into_iter()
                .filter(|p| p.len() > segments.len() && p[..segments.len()] == segments[..])
                .map(|p| p[segments.len()].clone())
                .collect();
            if inside.components().count() == 1 {
                named.extend(use_paths(&code, "super::").into_iter().filter_map(|p| p.into_iter().next()));
            }
            for to in named {
                if to != from && graph.contains_key(&to) {
                    let at = format!("{}:{line}", relative.display());
                    graph.get_mut(&from).unwrap().entry(to).or_insert(at);
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

/// Every crate of the workspace that has a library or binary `src/`: `crates/*` and `xtask`.
fn crate_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("crates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("src").is_dir())
        .collect();
    dirs.push(root().join("xtask"));
    dirs.sort();
    dirs
}

/// The library files of the crate in `dir`, relative to its `src/`, with their text.
fn library_sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let src = dir.join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files
        .into_iter()
        .map(|f| f.strip_prefix(&src).unwrap().to_path_buf())
        .filter(|r| r != Path::new("main.rs") && !r.starts_with("bin"))
        .map(|r| {
            let text = std::fs::read_to_string(src.join(&r)).unwrap();
            (r, text)
        })
        .collect()
}

/// Every Rust file of the workspace that is ours: the crates (sources, tests, benches, build
/// scripts), xtask and the fuzz targets.
fn all_rust_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in crate_dirs().into_iter().chain([root().join("fuzz/fuzz_targets")]) {
        for sub in ["src", "tests", "benches", "fuzz_targets", ""] {
            let d = if sub.is_empty() { dir.clone() } else { dir.join(sub) };
            if sub.is_empty() {
                files.extend(
                    std::fs::read_dir(&d)
                        .unwrap()
                        .map(|e| e.unwrap().path())
                        .filter(|p| p.extension().is_some_and(|e| e == "rs")),
                );
            } else if d.is_dir() {
                rust_files(&d, &mut files);
            }
        }
    }
    files.sort();
    files.dedup();
    files
}

/// The functions of `text` longer than `limit` lines: (name, first line, lines).
fn long_functions(text: &str, limit: usize) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let t = t.strip_prefix("pub(crate) ").or_else(|| t.strip_prefix("pub ")).unwrap_or(t);
        let t = t.strip_prefix("const ").unwrap_or(t);
        let Some(rest) = t.strip_prefix("fn ") else { continue };
        let name: String = rest.chars().take_while(|&c| is_ident(c)).collect();
        // From the signature to the brace that closes the body (strings and comments aside).
        let (mut depth, mut opened) = (0i64, false);
        let mut end = i;
        for (j, l) in lines.iter().enumerate().skip(i) {
            let code = l.find("//").map_or(*l, |at| &l[..at]);
            let chars: Vec<char> = code.chars().collect();
            let (mut in_str, mut k) = (false, 0);
            while k < chars.len() {
                match chars[k] {
                    '\\' if in_str => k += 1,
                    '"' => in_str = !in_str,
                    // A char literal (`'{'`, `'\''`), not a lifetime (`'a`).
                    '\'' if !in_str && chars.get(k + 2) == Some(&'\'') => k += 2,
                    '\'' if !in_str && chars.get(k + 1) == Some(&'\\') => k += 3,
                    '{' if !in_str => {
                        depth += 1;
                        opened = true;
                    }
                    '}' if !in_str => depth -= 1,
                    _ => {}
                }
                k += 1;
            }
            end = j;
            if (opened && depth <= 0) || (!opened && code.trim_end().ends_with(';')) {
                break;
            }
        }
        let n = end - i + 1;
        if n > limit {
            out.push((name, i + 1, n));
        }
    }
    out
}

#[test]
fn no_two_modules_of_any_crate_import_each_other() {
    let mut found = Vec::new();
    let mut edges = 0;
    for dir in crate_dirs() {
        let graph = graph_of(&library_sources(&dir));
        edges += graph.values().map(BTreeMap::len).sum::<usize>();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        found.extend(cycles(&graph).into_iter().map(|c| format!("{name}: {c}")));
        let sources = library_sources(&dir);
        for folder in module_folders(&sources) {
            let graph = graph_in(&folder, &sources);
            edges += graph.values().map(BTreeMap::len).sum::<usize>();
            found.extend(cycles(&graph).into_iter().map(|c| format!("{name}/{}: {c}", folder.display())));
        }
    }
    // The reader sees the pipeline's edges (so an empty graph cannot pass by accident).
    let cli = graph_of(&library_sources(&root().join("crates/infer-cli")));
    assert!(cli.get("compare").is_some_and(|e| e.contains_key("runner")), "compare → runner not found: {cli:#?}");
    let measure = library_sources(&root().join("crates/infer-measure"));
    let scenario = graph_in(Path::new("scenario"), &measure);
    assert!(
        scenario.get("server").is_some_and(|e| e.contains_key("worker")),
        "server → worker not found: {scenario:#?}"
    );
    assert!(edges > 20, "only {edges} imports found between modules");
    assert!(found.is_empty(), "import cycles between modules:\n{}", found.join("\n"));
}

#[test]
fn no_source_file_is_too_long() {
    let files = all_rust_files();
    assert!(files.len() > 100, "{} files found", files.len());
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).unwrap().lines().count();
            (n > MAX_FILE_LINES).then(|| format!("{}: {n} lines", f.strip_prefix(root()).unwrap().display()))
        })
        .collect();
    assert!(long.is_empty(), "files over {MAX_FILE_LINES} lines (split them by concern):\n{}", long.join("\n"));
}

#[test]
fn no_function_is_too_long() {
    let mut long = Vec::new();
    for f in all_rust_files() {
        let rel = f.strip_prefix(root()).unwrap().to_string_lossy().into_owned();
        for (name, line, n) in long_functions(&std::fs::read_to_string(&f).unwrap(), MAX_FN_LINES) {
            if !LONG_FUNCTIONS.contains(&(rel.as_str(), name.as_str())) {
                long.push(format!("{rel}:{line} fn {name}: {n} lines"));
            }
        }
    }
    assert!(long.is_empty(), "functions over {MAX_FN_LINES} lines:\n{}", long.join("\n"));
}

#[test]
fn the_function_reader_measures_bodies_not_strings() {
    let text = "fn a() {\n    let s = \"}\";\n    let c = '{';\n}\nfn b();\npub fn c<'a>(\n    x: &'a u8,\n) -> u8 {\n    *x\n}\n";
    assert_eq!(long_functions(text, 0), [("a".to_string(), 1, 4), ("b".into(), 5, 1), ("c".into(), 6, 5)]);
    assert_eq!(long_functions(text, 4), [("c".to_string(), 6, 5)]);
    assert!(long_functions(text, 5).is_empty());
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

#[test]
fn the_reader_finds_cycles_between_the_files_of_a_folder() {
    let files = vec![
        (PathBuf::from("scenario/mod.rs"), "pub mod run;\nuse run::go;\n".to_string()),
        (PathBuf::from("scenario/run.rs"), "use super::{plan::Plan, helpers};\n".to_string()),
        (PathBuf::from("scenario/plan.rs"), "use crate::{scenario::{run::Stop}, other};\n".to_string()),
        (PathBuf::from("scenario/report/mod.rs"), "use crate::scenario::plan as p;\n".to_string()),
        (PathBuf::from("scenario/report.rs"), "#[cfg(test)]\nmod tests {\n    use super::run;\n}\n".to_string()),
        (PathBuf::from("other.rs"), "use crate::scenario::run;\n".to_string()),
    ];
    assert_eq!(module_folders(&files), BTreeSet::from([PathBuf::from("scenario"), PathBuf::from("scenario/report")]));
    let graph = graph_in(Path::new("scenario"), &files);
    let edges = |m: &str| graph[m].keys().cloned().collect::<Vec<_>>();
    assert_eq!(edges("run"), ["plan"], "`helpers` is no file of the folder");
    assert_eq!(edges("plan"), ["run"]);
    assert_eq!(edges("report"), ["plan"], "unit tests are left out, crate:: paths from deeper files count");
    assert!(!graph.contains_key("mod"), "the folder's mod.rs declares the children: {graph:?}");
    assert_eq!(cycles(&graph), ["plan → run (scenario/plan.rs:1), run → plan (scenario/run.rs:1)"]);
    assert_eq!(
        use_paths("x::crate::a; use super::super::b; f(crate::c::d(), $crate::e)", "crate::"),
        [vec!["c".to_string(), "d".to_string()]]
    );
}
