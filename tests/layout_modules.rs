//! The module order of ../shared/STYLE.md (DEVELOPERS.md's layout table):
//! every `crate::…` path (and every `super::…` path that climbs to the crate
//! root) in a module points to a module listed before it. The top-level
//! files come after all modules: `config.rs` joins the modules' sections,
//! `app.rs` opens everything from a `Config`; no module uses either.
//!
//! Test-only code is exempt: items under `#[cfg(test)]`, and the files of
//! modules declared under it (`*_test.rs`, `tests.rs`, `testutil.rs`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Modules in dependency order: each may use only those before it.
const ORDER: [&str; 13] = [
    "types",
    "pb",
    "plainpb",
    "index",
    "storage",
    "registry",
    "rebuild",
    "engine",
    "etl",
    "retrieval",
    "mgmt",
    "cluster",
    "api",
];

/// Top-level files after the modules, in order (`lib.rs` and `main.rs`
/// may use everything).
const TOP: [&str; 2] = ["config", "app"];

/// A crate-root name used on a line.
type Use = (usize, String);
/// A module declared under `#[cfg(test)]`: name and `#[path]`, if any.
type TestMod = (String, Option<String>);

/// Rank of a crate-root item that is a module or top-level file.
fn rank(name: &str) -> Option<usize> {
    ORDER.iter().chain(TOP.iter()).position(|m| *m == name)
}

/// Source text with comments, string and char literals blanked out: every
/// byte of them becomes a space (newlines stay), so offsets and lines match
/// the original text.
fn code_only(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |out: &mut String, c: char| {
        if c == '\n' {
            out.push('\n');
        } else {
            out.extend(std::iter::repeat_n(' ', c.len_utf8()));
        }
    };
    // The end (exclusive) of the literal or comment starting at `i`, if any.
    let skip_end = |i: usize| -> Option<usize> {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            return Some((i..b.len()).find(|&j| b[j] == '\n').unwrap_or(b.len()));
        }
        if c == '/' && next == Some('*') {
            let (mut depth, mut j) = (0, i);
            while j < b.len() {
                if b[j] == '/' && b.get(j + 1) == Some(&'*') {
                    depth += 1;
                    j += 2;
                } else if b[j] == '*' && b.get(j + 1) == Some(&'/') {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        return Some(j);
                    }
                } else {
                    j += 1;
                }
            }
            return Some(b.len());
        }
        if c == 'r' && matches!(next, Some('"' | '#')) && !ident_char(i.checked_sub(1).map(|k| &b[k])) {
            // Raw string r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                return None;
            }
            j += 1;
            while j < b.len() {
                if b[j] == '"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&'#')) {
                    return Some(j + 1 + hashes);
                }
                j += 1;
            }
            return Some(b.len());
        }
        if c == '"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != '"' {
                j += if b[j] == '\\' { 2 } else { 1 };
            }
            return Some((j + 1).min(b.len()));
        }
        if c == '\'' && (next == Some('\\') || b.get(i + 2) == Some(&'\'')) {
            // A char literal ('x', '\n', '\''); otherwise a lifetime.
            let mut j = i + if next == Some('\\') { 3 } else { 2 };
            while j < b.len() && b[j] != '\'' {
                j += 1;
            }
            return Some((j + 1).min(b.len()));
        }
        None
    };
    let mut i = 0;
    while i < b.len() {
        match skip_end(i) {
            Some(end) => {
                for &c in &b[i..end] {
                    blank(&mut out, c);
                }
                i = end;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    out
}

fn ident_char(c: Option<&char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || *c == '_')
}

/// Removes the items under `#[cfg(test)]`; returns the rest and the names
/// of `mod NAME;` declarations among them, with their `#[path]` if any.
fn without_test_items(code: &str, raw: &str) -> (String, Vec<TestMod>) {
    let mut out = String::new();
    let mut test_mods = Vec::new();
    let mut rest = code;
    let mut raw_rest = raw;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let item_start = at + "#[cfg(test)]".len();
        let item = &rest[item_start..];
        // The item ends at its first `;` outside braces, or at the brace
        // that closes its first block.
        let mut depth = 0usize;
        let mut end = item.len();
        for (i, ch) in item.char_indices() {
            match ch {
                '{' => depth += 1,
                '}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                ';' if depth == 0 => {
                    end = i + 1;
                    break;
                }
                _ => {}
            }
        }
        let text = &item[..end];
        let raw_text = &raw_rest[item_start..item_start + end];
        if !text.contains('{') {
            if let Some(name) = text
                .split_whitespace()
                .skip_while(|w| *w != "mod")
                .nth(1)
                .map(|n| n.trim_end_matches(';').to_string())
            {
                let path = raw_text
                    .split("#[path = \"")
                    .nth(1)
                    .and_then(|p| p.split('"').next())
                    .map(str::to_string);
                test_mods.push((name, path));
            }
        }
        for c in text.chars() {
            match c {
                '\n' => out.push('\n'),
                _ => out.extend(std::iter::repeat_n(' ', c.len_utf8())),
            }
        }
        rest = &item[end..];
        raw_rest = &raw_rest[item_start + end..];
    }
    out.push_str(rest);
    (out, test_mods)
}

/// The crate-root names that `code` reaches: `crate::x`, `crate::{x, y::z}`
/// and `super::…` chains that climb `depth` levels to the root.
fn root_paths(code: &str, depth: usize) -> Vec<Use> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    let line_of = |i: usize| code[..i].matches('\n').count() + 1;
    let mut i = 0;
    while i < code.len() {
        let rest = &code[i..];
        let preceded = i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        let (skip, tail) = if !preceded && rest.starts_with("crate::") {
            (7, &rest[7..])
        } else if !preceded && rest.starts_with("super::") {
            let mut n = 0;
            let mut t = rest;
            while let Some(r) = t.strip_prefix("super::") {
                n += 1;
                t = r.trim_start();
            }
            if n < depth {
                i += 7 * n;
                continue;
            }
            (rest.len() - t.len(), t)
        } else {
            i += 1;
            continue;
        };
        if let Some(group) = tail.strip_prefix('{') {
            // Top-level names of the group: split at commas outside braces.
            let mut level = 0;
            let mut name = String::new();
            let mut at_start = true;
            for ch in group.chars() {
                match ch {
                    '{' => level += 1,
                    '}' if level == 0 => break,
                    '}' => level -= 1,
                    ',' if level == 0 => {
                        at_start = true;
                        continue;
                    }
                    _ => {}
                }
                if level == 0 && at_start {
                    if ch.is_alphanumeric() || ch == '_' {
                        name.push(ch);
                    } else if !name.is_empty() {
                        found.push((line_of(i), std::mem::take(&mut name)));
                        at_start = false;
                    }
                }
            }
            if !name.is_empty() {
                found.push((line_of(i), name));
            }
        } else {
            let name: String = tail
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            found.push((line_of(i), name));
        }
        i += skip;
    }
    found
}

/// Violations of one file: `(line, used name)` pairs pointing at a module or
/// top-level file ranked after `owner` (the file's module or top-level name),
/// ignoring test-only items. Also returns the test-only child modules.
fn check_file(owner: &str, raw: &str, depth: usize) -> (Vec<Use>, Vec<TestMod>) {
    let own = rank(owner).unwrap_or(usize::MAX);
    // `code_only` keeps byte offsets, so attribute paths (blanked string
    // literals in `code`) are read from the raw text at the same places.
    let (code, test_mods) = without_test_items(&code_only(raw), raw);
    let bad = root_paths(&code, depth)
        .into_iter()
        .filter(|(_, name)| rank(name).is_some_and(|r| r > own))
        .collect();
    (bad, test_mods)
}

/// Every source file under `src/` with its owner (module or top-level file)
/// and its depth below the crate root, minus test-only files.
fn check_tree(src: &Path) -> Vec<String> {
    let mut errors = Vec::new();
    let mut test_files = BTreeSet::new();
    let mut files: Vec<(PathBuf, String, usize)> = Vec::new();
    for entry in walk(src) {
        let rel = entry.strip_prefix(src).expect("below src").to_path_buf();
        let parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        let owner = parts[0].trim_end_matches(".rs").to_string();
        if parts.len() == 1 && !["lib", "main"].contains(&owner.as_str()) && rank(&owner).is_none() {
            errors.push(format!(
                "src/{}: a top-level file missing from the module order",
                parts[0]
            ));
        }
        if parts.len() > 1 && rank(&owner).is_none() {
            errors.push(format!("src/{owner}/: a module missing from the module order"));
        }
        // Module depth: src/m/mod.rs and src/m.rs are 1, src/m/a.rs is 2, …
        let last_is_mod = parts.last().is_some_and(|p| p == "mod.rs");
        let depth = parts.len() - usize::from(last_is_mod);
        files.push((entry, owner, depth));
    }
    // Test-only files are known once every declaring file was read.
    let mut results = Vec::new();
    for (path, owner, depth) in &files {
        let raw = std::fs::read_to_string(path).expect("readable source");
        let (bad, test_mods) = check_file(owner, &raw, *depth);
        let dir = if path
            .file_name()
            .is_some_and(|n| n == "mod.rs" || n == "lib.rs" || n == "main.rs")
        {
            path.parent().expect("parent").to_path_buf()
        } else {
            path.with_extension("")
        };
        for (name, explicit) in test_mods {
            match explicit {
                Some(p) => {
                    test_files.insert(path.parent().expect("parent").join(p));
                }
                None => {
                    test_files.insert(dir.join(format!("{name}.rs")));
                    test_files.insert(dir.join(&name).join("mod.rs"));
                }
            }
        }
        results.push((path.clone(), owner.clone(), bad));
    }
    let root = src.parent().unwrap_or(src);
    for (path, owner, bad) in results {
        if test_files.contains(&path) {
            continue;
        }
        let shown = path.strip_prefix(root).unwrap_or(&path).display();
        for (line, name) in bad {
            errors.push(format!("{shown}:{line}: {owner} uses {name}, listed after it"));
        }
    }
    errors
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("src/ readable") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out
}

#[test]
fn every_module_uses_only_modules_listed_before_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let errors = check_tree(&src);
    assert!(
        errors.is_empty(),
        "against the module order:\n{}",
        errors.join("\n")
    );
}

#[test]
fn the_check_finds_uses_against_the_order() {
    let bad = |owner: &str, src: &str, depth: usize| -> Vec<String> {
        check_file(owner, src, depth)
            .0
            .into_iter()
            .map(|(_, n)| n)
            .collect()
    };
    assert_eq!(bad("storage", "use crate::mgmt::Mgmt;\n", 2), ["mgmt"]);
    assert_eq!(bad("storage", "fn f() { crate::api::app(); }\n", 2), ["api"]);
    assert_eq!(
        bad("engine", "use crate::{types::X, retrieval::{a, b}};\n", 2),
        ["retrieval"]
    );
    assert_eq!(
        bad("storage", "use super::super::registry::R;\n", 2),
        ["registry"]
    );
    assert_eq!(bad("storage", "use super::tiered::T;\n", 2), Vec::<String>::new());
    assert_eq!(bad("api", "use crate::config::Config;\n", 1), ["config"]);
    assert_eq!(bad("config", "use crate::app::App;\n", 1), ["app"]);
    // Allowed: earlier modules, itself, crate-root items that are no module.
    assert!(bad(
        "mgmt",
        "use crate::engine::E; use crate::mgmt::x; crate::VERSION;\n",
        2
    )
    .is_empty());
    assert!(bad("app", "use crate::config::Config; use crate::api::AppState;\n", 1).is_empty());
}

#[test]
fn the_check_skips_comments_strings_and_test_items() {
    let bad = |src: &str| check_file("types", src, 2).0;
    assert!(bad("// crate::api\n/* crate::mgmt */ /// crate::app\n").is_empty());
    assert!(bad("const S: &str = \"crate::api\"; const R: &str = r#\"crate::mgmt\"#;\n").is_empty());
    assert!(bad("fn f<'a>(x: &'a str) -> char { '\"' }\n").is_empty());
    assert!(bad("#[cfg(test)]\nmod tests {\n    use crate::api::x;\n}\nfn g() {}\n").is_empty());
    assert!(bad("#[cfg(test)]\nuse crate::api::x;\n").is_empty());
    // Code after a test module is checked again.
    let after = bad("#[cfg(test)]\nmod tests {\n    fn a() {}\n}\nuse crate::api::x;\n");
    assert_eq!(after, [(5, "api".to_string())]);
    let (_, mods) = check_file(
        "types",
        "#[cfg(test)]\n#[path = \"x_test.rs\"]\nmod tests;\n#[cfg(test)]\npub(crate) mod testutil;\n",
        2,
    );
    assert_eq!(
        mods,
        [
            ("tests".to_string(), Some("x_test.rs".to_string())),
            ("testutil".to_string(), None)
        ]
    );
}
