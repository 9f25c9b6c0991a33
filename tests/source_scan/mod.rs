//! Reading Rust source well enough for the source tests (`function_length.rs`, `layering.rs`):
//! comments and the contents of string, raw string, byte and char literals blanked out, line
//! breaks kept, so braces, paths and keywords can be found by position.

/// `text` with comments, string and char literals blanked out (line breaks kept), so that
/// braces and keywords can be found by position.
pub fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let ident = |at: usize| chars[at].is_alphanumeric() || chars[at] == '_';
        let prev_ident = i > 0 && ident(i - 1);
        // `b'x'` is a byte literal, not an identifier followed by a lifetime.
        let byte_prefix = i > 0 && chars[i - 1] == 'b' && (i < 2 || !ident(i - 2));
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                blank(&mut out, chars[i]);
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
            }
        } else if let Some((quote, hashes)) = raw_string_at(&chars, i).filter(|_| !prev_ident) {
            let closing: Vec<char> = std::iter::once('"').chain(std::iter::repeat_n('#', hashes)).collect();
            let mut end = quote + 1;
            while end < chars.len() && !chars[end..].starts_with(&closing) {
                end += 1;
            }
            let end = (end + closing.len()).min(chars.len());
            for &ch in &chars[i..end] {
                blank(&mut out, ch);
            }
            i = end;
        } else if c == '"' {
            blank(&mut out, c);
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
                if i < chars.len() {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
            }
            if i < chars.len() {
                blank(&mut out, chars[i]);
                i += 1;
            }
        } else if c == '\'' && (!prev_ident || byte_prefix) {
            // A char literal ('x', '\n', '\u{..}'), or a lifetime / label ('a), kept as code.
            let end = if next == Some('\\') {
                chars
                    .get(i + 3..)
                    .and_then(|rest| rest.iter().position(|&ch| ch == '\''))
                    .map(|p| i + 3 + p + 1)
            } else if chars.get(i + 2) == Some(&'\'') {
                Some(i + 3)
            } else {
                None
            };
            if let Some(end) = end {
                for &ch in &chars[i..end] {
                    blank(&mut out, ch);
                }
                i = end;
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// For a raw string starting at `i` (`r"`, `r#"`, `br#"`…): the index of its opening quote and
/// its number of hashes.
fn raw_string_at(chars: &[char], i: usize) -> Option<(usize, usize)> {
    let mut j = match (chars[i], chars.get(i + 1)) {
        ('r', _) => i + 1,
        ('b', Some('r')) => i + 2,
        _ => return None,
    };
    let mut hashes = 0;
    while chars.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    (chars.get(j) == Some(&'"')).then_some((j, hashes))
}
