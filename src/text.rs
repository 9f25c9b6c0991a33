//! Text helpers shared by the doors: cutting a text to a byte budget without splitting a
//! character (admission audit annotations, denial messages, capped findings).

/// `text` cut to at most `max` bytes at a character boundary; a cut text ends with `…` (within
/// the budget).
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mark = '…';
    let mut end = max.saturating_sub(mark.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(end + mark.len_utf8());
    out.push_str(&text[..end]);
    out.push(mark);
    out
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn cuts_at_a_character_boundary_within_the_budget() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("abcdefghij", 6), "abc…");
        let cut = truncate(&"é".repeat(10), 7);
        assert!(cut.len() <= 7, "{cut}");
        assert_eq!(cut, "éé…");
        assert_eq!(truncate("abc", 0), "…");
    }
}
