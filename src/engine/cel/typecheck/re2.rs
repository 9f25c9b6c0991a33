//! What Go's RE2 (`regexp/syntax`) refuses that the `regex` crate accepts.

/// What Go's `regexp/syntax` refuses that the `regex` crate accepts: nested repetition
/// operators (`x++`, `a{2}{3}`, `x*??`) and repeat counts over 1000. The `regex` crate's own
/// errors are checked by the caller.
pub fn re2_check(pattern: &str) -> Result<(), String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    // After a repetition: whether its lazy `?` was taken.
    let mut after_repeat: Option<(usize, bool)> = None;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                i += 2;
                if matches!(chars.get(i - 1), Some('p' | 'P' | 'x')) && chars.get(i) == Some(&'{') {
                    while i < chars.len() && chars[i] != '}' {
                        i += 1;
                    }
                    i += 1;
                }
                after_repeat = None;
                continue;
            }
            '[' => {
                i = skip_class(&chars, i);
                after_repeat = None;
                continue;
            }
            '(' if chars.get(i + 1) == Some(&'?') => {
                i += 2;
                after_repeat = None;
                continue;
            }
            '*' | '+' | '?' => {
                if let Some((start, lazy)) = after_repeat {
                    if c == '?' && !lazy {
                        after_repeat = Some((start, true));
                        i += 1;
                        continue;
                    }
                    let op: String = chars[start..=i].iter().collect();
                    return Err(format!("invalid nested repetition operator: `{op}`"));
                }
                after_repeat = Some((i, false));
            }
            '{' => {
                if let Some((end, min, max)) = repeat(&chars, i) {
                    let op: String = chars[i..=end].iter().collect();
                    if min > 1000 || max.is_some_and(|m| m > 1000 || m < min) {
                        return Err(format!("invalid repeat count: `{op}`"));
                    }
                    if let Some((start, _)) = after_repeat {
                        let op: String = chars[start..=end].iter().collect();
                        return Err(format!("invalid nested repetition operator: `{op}`"));
                    }
                    after_repeat = Some((i, false));
                    i = end + 1;
                    continue;
                }
                after_repeat = None;
            }
            _ => after_repeat = None,
        }
        i += 1;
    }
    Ok(())
}

/// The index after the character class opening at `i`.
fn skip_class(chars: &[char], mut i: usize) -> usize {
    i += 1;
    if chars.get(i) == Some(&'^') {
        i += 1;
    }
    if chars.get(i) == Some(&']') {
        i += 1;
    }
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '[' if chars.get(i + 1) == Some(&':') => {
                while i < chars.len() && !(chars[i] == ':' && chars.get(i + 1) == Some(&']')) {
                    i += 1;
                }
                i += 2;
            }
            ']' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// A `{n}`, `{n,}` or `{n,m}` repeat at `i`: (index of `}`, n, m).
fn repeat(chars: &[char], i: usize) -> Option<(usize, u64, Option<u64>)> {
    let close = i + chars[i..].iter().position(|c| *c == '}')?;
    let body: String = chars[i + 1..close].iter().collect();
    let number = |s: &str| (!s.is_empty() && s.chars().all(|c| c.is_ascii_digit())).then(|| s.parse::<u64>().ok())?;
    match body.split_once(',') {
        None => number(&body).map(|n| (close, n, Some(n))),
        Some((a, "")) => number(a).map(|n| (close, n, None)),
        Some((a, b)) => Some((close, number(a)?, Some(number(b)?))),
    }
}
