//! Small questions about YAML text answered by reading it: where lines start and end, columns,
//! and where a scalar that starts at a known place ends.

/// Byte offset of the start of the line holding `at`.
pub(super) fn line_start(text: &str, at: usize) -> usize {
    text[..at].rfind('\n').map_or(0, |i| i + 1)
}

/// Byte offset of the end of the line holding `at`: its line break (`\r\n` or `\n`), or the end
/// of the text.
pub(super) fn line_end(text: &str, at: usize) -> usize {
    let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    if end > at && text.as_bytes()[end - 1] == b'\r' {
        end - 1
    } else {
        end
    }
}

/// Byte offset just after the line break ending the line holding `at` (the end of the text on
/// the last line).
pub(super) fn next_line(text: &str, at: usize) -> usize {
    text[at..].find('\n').map_or(text.len(), |i| at + i + 1)
}

/// Column (0-based, in characters) of `at` in its line.
pub(super) fn column(text: &str, at: usize) -> usize {
    text[line_start(text, at)..at].chars().count()
}

/// Whether only spaces precede `at` on its line.
pub(super) fn first_on_line(text: &str, at: usize) -> bool {
    text[line_start(text, at)..at].bytes().all(|b| b == b' ')
}

/// End of the quoted scalar starting at `start` (its opening quote): just after the closing
/// quote.
pub(super) fn quoted_end(text: &str, start: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let quote = *bytes.get(start)?;
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quote == b'"' => i += 2,
            b'\'' if quote == b'\'' && bytes.get(i + 1) == Some(&b'\'') => i += 2,
            b if b == quote => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// End of a plain or block scalar whose content starts at `start` and reads as `value`: just after
/// the last character of its content. Folding and indentation change only whitespace, so the
/// content ends where as many non-blank characters as `value` holds have been read.
pub(super) fn content_end(text: &str, start: usize, value: &str) -> Option<usize> {
    let mut wanted = value.chars().filter(|c| !c.is_whitespace()).count();
    if wanted == 0 {
        return Some(start);
    }
    for (i, c) in text[start..].char_indices() {
        if !c.is_whitespace() {
            wanted -= 1;
            if wanted == 0 {
                return Some(start + i + c.len_utf8());
            }
        }
    }
    None
}

/// Start of the header (`|`, `>`, with its indicators) of a block scalar whose content starts at
/// `content`: the last `|` or `>` before it, outside a comment, on the last non-blank line
/// before the content.
pub(super) fn block_header(text: &str, content: usize) -> Option<usize> {
    let mut end = line_start(text, content);
    loop {
        if end == 0 {
            return None;
        }
        let start = line_start(text, end - 1);
        let line = &text[start..end];
        if !line.trim().is_empty() {
            let code = line.find(" #").map_or(line, |i| &line[..i]);
            return code.rfind(['|', '>']).map(|i| start + i);
        }
        end = start;
    }
}

/// The first byte at or after `at` that is not a space, tab or line break.
pub(super) fn skip_blank(text: &str, at: usize) -> usize {
    text[at..]
        .find(|c: char| !matches!(c, ' ' | '\t' | '\r' | '\n'))
        .map_or(text.len(), |i| at + i)
}

/// The last byte before `at` that is not a space, tab or line break, if any.
pub(super) fn before_blank(text: &str, at: usize) -> Option<usize> {
    text[..at].rfind(|c: char| !matches!(c, ' ' | '\t' | '\r' | '\n'))
}

/// The line break the text uses: `\r\n` when its first line ends so.
pub(super) fn line_break(text: &str) -> &'static str {
    match text.find('\n') {
        Some(i) if i > 0 && text.as_bytes()[i - 1] == b'\r' => "\r\n",
        _ => "\n",
    }
}
