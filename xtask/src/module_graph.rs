//! Which source file of a crate uses which: the graph behind the rule that a crate
//! has no import cycles (`cargo test -p xtask`, so `cargo xtask test`, checks it).
//!
//! Each `.rs` file is a node. A path through `crate::` or `super::` (in a `use`, or
//! written out in the code) is an edge to the file of the deepest module it names.
//! A module and the modules it declares are one unit to Rust's privacy rules (a
//! child sees its parent's private items), so edges between a file and its own
//! parent or child are not counted; every other cycle is reported. Test modules
//! (`#[cfg(test)]` to the end of a file) are left out: they may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module path, `[]` for the crate root.
type ModPath = Vec<String>;

/// The crate under `src`: each file's module path and the files it uses.
pub struct ModuleGraph {
    files: BTreeMap<ModPath, PathBuf>,
    edges: BTreeMap<ModPath, BTreeSet<ModPath>>,
}

impl ModuleGraph {
    pub fn of_crate(src: &Path) -> Result<ModuleGraph, String> {
        let mut files = BTreeMap::new();
        collect(src, src, &mut files)?;
        let mut edges = BTreeMap::new();
        for (module, file) in &files {
            let text =
                std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
            let own = without_tests(&text);
            let mut used = BTreeSet::new();
            for path in paths_in(own) {
                if let Some(target) = resolve(&files, module, &path)
                    && !related(module, &target)
                {
                    used.insert(target);
                }
            }
            edges.insert(module.clone(), used);
        }
        Ok(ModuleGraph { files, edges })
    }

    /// Every cycle, as the files in it (strongly connected components of two or
    /// more files).
    pub fn cycles(&self) -> Vec<Vec<PathBuf>> {
        let mut out = Vec::new();
        for component in strongly_connected(&self.edges) {
            if component.len() > 1 {
                out.push(
                    component
                        .iter()
                        .filter_map(|m| self.files.get(m).cloned())
                        .collect(),
                );
            }
        }
        out
    }
}

fn collect(src: &Path, dir: &Path, files: &mut BTreeMap<ModPath, PathBuf>) -> Result<(), String> {
    for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            collect(src, &path, files)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.insert(module_of(src, &path), path);
        }
    }
    Ok(())
}

/// `src/a/b.rs` and `src/a/b/mod.rs` are `[a, b]`; `lib.rs` and `main.rs` are `[]`.
fn module_of(src: &Path, file: &Path) -> ModPath {
    let rel = file.strip_prefix(src).unwrap_or(file);
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|l| l == "mod") {
        parts.pop();
    }
    if parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main") {
        parts.clear();
    }
    parts
}

fn without_tests(text: &str) -> &str {
    match text.find("#[cfg(test)]") {
        Some(at) => &text[..at],
        None => text,
    }
}

/// Every `crate::…` and `super::…` path in the text, `use` groups expanded.
fn paths_in(text: &str) -> Vec<Vec<String>> {
    let code: String = text
        .lines()
        .map(|l| match l.find("//") {
            Some(at) => &l[..at],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = next_use(rest) {
        let stmt_end = rest[at..].find(';').map_or(rest.len(), |e| at + e);
        expand(&rest[at + 4..stmt_end], Vec::new(), &mut out);
        rest = &rest[stmt_end..];
    }
    // Paths written out in code, outside `use`.
    for (i, _) in code
        .match_indices("crate::")
        .chain(code.match_indices("super::"))
    {
        let before = code[..i].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let path: Vec<String> = code[i..]
            .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .next()
            .unwrap_or("")
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        out.push(path);
    }
    out
}

/// The start of the next `use ` item (after `pub`, `pub(crate)` and the like).
fn next_use(text: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = text[from..].find("use ") {
        let at = from + i;
        let before = text[..at].chars().last();
        if before.is_none_or(|c| c.is_whitespace() || c == ')' || c == '{' || c == ';') {
            return Some(at);
        }
        from = at + 4;
    }
    None
}

/// `a::{b, c::{d, e}}` under `prefix`, into full paths.
fn expand(tree: &str, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let mut head = prefix;
        head.extend(segments(&tree[..open]));
        let inner = tree[open + 1..].trim_end().trim_end_matches('}');
        for part in split_top(inner) {
            expand(part, head.clone(), out);
        }
    } else {
        let mut path = prefix;
        let item = tree.split(" as ").next().unwrap_or(tree);
        path.extend(segments(item));
        out.push(path);
    }
}

fn segments(s: &str) -> impl Iterator<Item = String> + '_ {
    s.split("::")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
}

/// Splits on commas outside braces.
fn split_top(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut parts) = (0, 0, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

/// The file a path lands in: the deepest module it names that has a file.
fn resolve(files: &BTreeMap<ModPath, PathBuf>, from: &ModPath, path: &[String]) -> Option<ModPath> {
    let mut segs = path.iter();
    let mut base: ModPath = match segs.next()?.as_str() {
        "crate" => Vec::new(),
        // `super` of `a/b.rs` and of `a/b/mod.rs` alike is `a`.
        "super" => from[..from.len().saturating_sub(1)].to_vec(),
        _ => return None,
    };
    for s in segs {
        if s == "super" {
            base.pop();
            continue;
        }
        let mut next = base.clone();
        next.push(s.clone());
        if files.contains_key(&next) {
            base = next;
        } else {
            break;
        }
    }
    files.contains_key(&base).then_some(base)
}

/// A file and its parent or child module (or itself).
fn related(a: &ModPath, b: &ModPath) -> bool {
    let parent_of = |p: &ModPath, c: &ModPath| c.len() == p.len() + 1 && c.starts_with(p);
    a == b || parent_of(a, b) || parent_of(b, a)
}

/// Tarjan's algorithm, iterative enough for a crate's few hundred files.
fn strongly_connected(edges: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Vec<Vec<ModPath>> {
    struct State<'a> {
        edges: &'a BTreeMap<ModPath, BTreeSet<ModPath>>,
        index: BTreeMap<&'a ModPath, usize>,
        low: BTreeMap<&'a ModPath, usize>,
        stack: Vec<&'a ModPath>,
        on_stack: BTreeSet<&'a ModPath>,
        out: Vec<Vec<ModPath>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a ModPath) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        let edges = s.edges;
        for w in edges.get(v).into_iter().flatten() {
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.clone());
                if w == v {
                    break;
                }
            }
            s.out.push(component);
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The crates whose files must not use each other in a circle.
    const CRATES: [&str; 4] = [
        "wasm-core/src",
        "native-host/src",
        "extension/wasm-driver/src",
        "tracker/src",
    ];

    #[test]
    fn no_crate_has_an_import_cycle() {
        let mut found = Vec::new();
        for src in CRATES {
            let graph = ModuleGraph::of_crate(&crate::root().join(src)).unwrap();
            assert!(graph.files.len() > 3, "{src}: too few files found");
            found.extend(graph.cycles());
        }
        assert!(found.is_empty(), "import cycles: {found:#?}");
    }

    fn write(dir: &Path, name: &str, text: &str) {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn a_cycle_between_siblings_is_found_and_a_parent_child_pair_is_not() {
        let dir = std::env::temp_dir().join(format!("module-graph-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        write(&dir, "lib.rs", "pub mod a;\npub mod b;\npub mod c;\n");
        write(
            &dir,
            "a/mod.rs",
            "mod inner;\nuse inner::X;\nuse crate::{b::Y, c};\n",
        );
        write(&dir, "a/inner.rs", "use super::Z;\npub struct X;\n");
        write(&dir, "b.rs", "pub struct Y;\nfn f() { crate::a::go(); }\n");
        write(
            &dir,
            "c.rs",
            "#[cfg(test)]\nmod tests { use crate::a::X; }\n",
        );
        let graph = ModuleGraph::of_crate(&dir).unwrap();
        let cycles = graph.cycles();
        assert_eq!(cycles.len(), 1, "{cycles:?}");
        let names: BTreeSet<String> = cycles[0]
            .iter()
            .map(|p| p.strip_prefix(&dir).unwrap().display().to_string())
            .collect();
        assert_eq!(names, BTreeSet::from(["a/mod.rs".into(), "b.rs".into()]));
        // Without b's call into a, nothing is circular.
        write(&dir, "b.rs", "pub struct Y;\n");
        assert!(ModuleGraph::of_crate(&dir).unwrap().cycles().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
