//! No function in `src/` runs over [`MAX_LINES`] lines unless a comment in the three lines above
//! it says why it is long (a `//` comment with the word "long", e.g.
//! `// Long: one match over every event kind`). Test code is exempt: `#[cfg(test)] mod` blocks,
//! the files of `#[cfg(test)] mod name;` and files under a `tests/` folder.
//!
//! A function's length counts the lines from the one holding `fn` to its closing brace. The scan
//! reads Rust well enough for this: comments, strings (raw ones too) and char literals are
//! skipped when matching braces.

use std::path::{Path, PathBuf};

mod source_scan;

use source_scan::code_only;

/// The longest a function may be without a reason in a comment.
const MAX_LINES: usize = 80;

/// Functions of `src/engine` and `src/server` over the limit today, while they are being split.
/// This list may only shrink: a function listed here that is no longer over the limit fails the
/// test until it is removed, and nothing may be added.
const ALLOWED: &[&str] = &[];

/// One function found in a file.
#[derive(Debug)]
struct Function {
    name: String,
    /// 1-based line of the `fn` keyword.
    line: usize,
    lines: usize,
    /// Whether a comment in the three lines above says why it is long.
    explained: bool,
}

#[test]
fn no_function_is_over_the_limit_without_a_reason() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.sort();
    let test_files = test_module_files(&files);
    let mut over = Vec::new();
    let mut allowed_over = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(root).unwrap_or(file);
        if test_files.iter().any(|t| file.starts_with(t)) || relative.components().any(|c| c.as_os_str() == "tests") {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let shown = relative.display().to_string().replace('\\', "/");
        for f in functions(&text) {
            if f.lines <= MAX_LINES || f.explained {
                continue;
            }
            let key = format!("{shown}::{}", f.name);
            if ALLOWED.contains(&key.as_str()) {
                allowed_over.push(key);
            } else {
                over.push(format!("{shown}:{} {} ({} lines)", f.line, f.name, f.lines));
            }
        }
    }
    let stale: Vec<&&str> = ALLOWED
        .iter()
        .filter(|a| !allowed_over.iter().any(|o| o == *a))
        .collect();
    assert!(
        over.is_empty(),
        "functions over {MAX_LINES} lines without a comment saying why they are long \
         (split them, or put e.g. `// Long: <why>` in the 3 lines above):\n{}",
        over.join("\n")
    );
    assert!(
        stale.is_empty(),
        "no longer over {MAX_LINES} lines: remove from ALLOWED in tests/function_length.rs: {stale:?}"
    );
}

/// The scan itself: it must see through strings, comments and test modules.
#[test]
fn the_scan_measures_functions() {
    let body = "    let x = 1;\n".repeat(MAX_LINES);
    let text = format!(
        "fn short() {{ let s = \"{{{{\"; let c = '{{'; /* }} */ }}\n\
         fn long() {{\n{body}}}\n\
         // Long: one table, read whole.\n\
         fn explained() {{\n{body}}}\n\
         /// No longer than it needs to be.\n\
         fn not_explained(a: [u8; 2]) -> &'static str {{\n{body}    r#\"}}\"#\n}}\n\
         trait T {{ fn declared(&self); }}\n\
         #[cfg(test)]\nmod tests {{\n    fn in_tests() {{\n{body}    }}\n}}\n"
    );
    let found: Vec<(String, usize, bool)> = functions(&text)
        .into_iter()
        .map(|f| (f.name, f.lines, f.explained))
        .collect();
    assert_eq!(
        found,
        vec![
            ("short".to_owned(), 1, false),
            ("long".to_owned(), MAX_LINES + 2, false),
            ("explained".to_owned(), MAX_LINES + 2, true),
            ("not_explained".to_owned(), MAX_LINES + 3, false),
        ]
    );
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The files and folders of modules declared `#[cfg(test)] mod name;`.
fn test_module_files(files: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let code = code_only(&text);
        let dir = match file.file_stem().and_then(|s| s.to_str()) {
            Some("mod" | "lib" | "main") => file.parent().map(Path::to_path_buf),
            Some(stem) => file.parent().map(|p| p.join(stem)),
            None => None,
        };
        let Some(dir) = dir else { continue };
        let mut at = 0;
        while let Some(found) = code[at..].find("#[cfg(test)]") {
            let after = at + found + "#[cfg(test)]".len();
            let rest = code[after..].trim_start();
            if let Some(decl) = rest.strip_prefix("mod ") {
                let name: String = decl.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if decl[name.len()..].trim_start().starts_with(';') {
                    out.push(dir.join(format!("{name}.rs")));
                    out.push(dir.join(&name));
                }
            }
            at = after;
        }
    }
    out
}

/// The functions with a body in `text`, outside `#[cfg(test)] mod` blocks, in order.
fn functions(text: &str) -> Vec<Function> {
    const CFG_TEST: &[u8] = b"#[cfg(test)]";
    let code = code_only(text);
    let bytes = code.as_bytes();
    let raw_lines: Vec<&str> = text.lines().collect();
    // `at` is always at an ASCII `fn` or `}`, so a char boundary.
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || !b.is_ascii();
    let skip_blank = |mut at: usize| {
        while bytes.get(at).is_some_and(u8::is_ascii_whitespace) {
            at += 1;
        }
        at
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(CFG_TEST) {
            let item = skip_blank(i + CFG_TEST.len());
            if bytes[item..].starts_with(b"mod ") {
                let open = bytes[item..]
                    .iter()
                    .position(|&b| b == b'{' || b == b';')
                    .map(|p| item + p);
                if let Some(open) = open.filter(|&o| bytes[o] == b'{') {
                    i = matching_brace(bytes, open).map_or(bytes.len(), |close| close + 1);
                    continue;
                }
            }
        }
        let word_start = i == 0 || !ident(bytes[i - 1]);
        if word_start && bytes[i..].starts_with(b"fn ") {
            let name_at = skip_blank(i + 3);
            let name_len = bytes[name_at..].iter().take_while(|&&b| ident(b)).count();
            let name = String::from_utf8_lossy(&bytes[name_at..name_at + name_len]).into_owned();
            let close = body_start(bytes, name_at).and_then(|open| matching_brace(bytes, open));
            if let (false, Some(close)) = (name.is_empty(), close) {
                let line = line_of(i);
                let above = &raw_lines[line.saturating_sub(4)..line - 1];
                out.push(Function {
                    name,
                    line,
                    lines: line_of(close) - line + 1,
                    explained: above.iter().any(|l| says_long(l)),
                });
            }
        }
        i += 1;
    }
    out
}

/// Whether `line` holds a `//` comment with the word "long" in it.
fn says_long(line: &str) -> bool {
    let Some(at) = line.find("//") else { return false };
    line[at..]
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .any(|word| word == "long")
}

/// Where the body of the function whose signature starts at `from` opens: the first `{` outside
/// brackets, unless a `;` (a declaration without body) comes first.
fn body_start(bytes: &[u8], from: usize) -> Option<usize> {
    let mut depth = 0i32;
    for (at, &b) in bytes.iter().enumerate().skip(from) {
        match b {
            b'(' | b'[' => depth += 1,
            b')' | b']' => depth -= 1,
            b'{' if depth == 0 => return Some(at),
            b';' if depth == 0 => return None,
            _ => {}
        }
    }
    None
}

/// The `}` closing the `{` at `open`.
fn matching_brace(bytes: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (at, &b) in bytes.iter().enumerate().skip(open) {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(at);
                }
            }
            _ => {}
        }
    }
    None
}
