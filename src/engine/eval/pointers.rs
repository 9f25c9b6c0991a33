//! JSON pointers of findings and patches: joining relative pointers, reading normalized JSONPath paths.

/// `base` + a relative pointer (`/x`), or the relative pointer alone when it is absolute (`$/x`).
pub(super) fn join_pointer(base: &str, relative: &str) -> String {
    if let Some(absolute) = relative.strip_prefix('$') {
        absolute.to_owned()
    } else {
        format!("{base}{relative}")
    }
}

pub(super) fn resolve_patch_path(base: &str, raw: &str) -> String {
    join_pointer(base, raw)
}

/// `$['spec']['containers'][0]` -> `/spec/containers/0`: reads an RFC 9535 normalized path (as
/// `jsonpath-rust` reports matches) without a full JSONPath parse.
pub(crate) fn normalized_path_to_pointer(path: &str) -> String {
    let mut pointer = String::with_capacity(path.len());
    let mut chars = path.strip_prefix('$').unwrap_or(path).chars().peekable();
    while let Some(c) = chars.next() {
        if c != '[' {
            continue;
        }
        pointer.push('/');
        if chars.peek() == Some(&'\'') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\'' => break,
                    '\\' => match chars.next() {
                        Some('b') => pointer.push('\u{8}'),
                        Some('f') => pointer.push('\u{c}'),
                        Some('n') => pointer.push('\n'),
                        Some('r') => pointer.push('\r'),
                        Some('t') => pointer.push('\t'),
                        Some('u') => {
                            let hex: String = chars.by_ref().take(4).collect();
                            if let Some(ch) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                                pointer.push(ch);
                            }
                        }
                        Some(other) => pointer.push(other),
                        None => {}
                    },
                    '~' => pointer.push_str("~0"),
                    '/' => pointer.push_str("~1"),
                    other => pointer.push(other),
                }
            }
            // Skip the closing bracket.
            chars.next();
        } else {
            for c in chars.by_ref() {
                if c == ']' {
                    break;
                }
                pointer.push(c);
            }
        }
    }
    pointer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_paths_become_pointers() {
        assert_eq!(
            normalized_path_to_pointer("$['spec']['containers'][0]"),
            "/spec/containers/0"
        );
        assert_eq!(normalized_path_to_pointer("$['a/b']['c~d']"), "/a~1b/c~0d");
        assert_eq!(normalized_path_to_pointer("$"), "");
        assert_eq!(normalized_path_to_pointer("$['it\\'s']['a\\\\b'][12]"), "/it's/a\\b/12");
    }

    #[test]
    fn pointer_joining() {
        assert_eq!(join_pointer("/spec/containers/0", "/image"), "/spec/containers/0/image");
        assert_eq!(join_pointer("/spec/containers/0", "$/metadata"), "/metadata");
    }
}
