//! Text helpers shared by the doors: reading a JSON body (admission reviews, check requests),
//! and cutting a text to a byte budget without splitting a character (admission audit
//! annotations, denial messages, capped findings).

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

/// `body` parsed as JSON. Its UTF-8 is checked once for the whole text, which is faster than
/// `serde_json::from_slice` checking every string on its own (about 15 % of parsing an
/// AdmissionReview); a body that is not UTF-8 is parsed as bytes, so the error says where.
///
/// # Errors
/// What `serde_json` finds wrong with the text.
pub fn json_from_bytes<T: serde::de::DeserializeOwned>(body: &[u8]) -> serde_json::Result<T> {
    match std::str::from_utf8(body) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(body),
    }
}

#[cfg(test)]
mod tests {
    use super::{json_from_bytes, truncate};

    #[test]
    fn a_json_body_reads_as_serde_json_reads_its_bytes() {
        let cases: [&[u8]; 5] = [
            br#"{"a": ["x", 1, {"b": null}], "c": "\u00e9t\u00e9"}"#,
            "{\"name\": \"caf\u{e9}\"}".as_bytes(),
            b"{\"a\": 1,}",
            b"{\"a\": \"\xff\"}",
            b"",
        ];
        for body in cases {
            let ours = json_from_bytes::<serde_json::Value>(body).map_err(|e| e.to_string());
            let theirs = serde_json::from_slice::<serde_json::Value>(body).map_err(|e| e.to_string());
            assert_eq!(ours, theirs, "{}", String::from_utf8_lossy(body));
        }
    }

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
