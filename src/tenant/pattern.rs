//! Name patterns for namespaces and object names: an exact name, or a glob where `*` matches any
//! run of characters and `?` one character. Two patterns can be checked for overlap, so that two
//! tenants claiming the same namespace is caught at load, not at the first request.

/// An exact name or a `*`/`?` glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePattern {
    text: String,
    glob: bool,
}

impl NamePattern {
    /// A pattern from config text; a glob when it contains `*` or `?`.
    pub fn new(text: &str) -> Self {
        NamePattern {
            text: text.to_owned(),
            glob: text.contains(['*', '?']),
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True for a glob, false for an exact name.
    pub fn is_glob(&self) -> bool {
        self.glob
    }

    /// Does `name` match?
    pub fn matches(&self, name: &str) -> bool {
        if self.glob {
            overlap(self.text.as_bytes(), name.as_bytes())
        } else {
            self.text == name
        }
    }

    /// Is there a name both patterns match?
    pub fn overlaps(&self, other: &NamePattern) -> bool {
        overlap(self.text.as_bytes(), other.text.as_bytes())
    }
}

/// Whether some string matches both `p` and `q` (each a glob over bytes; a plain name is a glob
/// without wildcards). Dynamic programming over positions: O(|p|·|q|).
fn overlap(p: &[u8], q: &[u8]) -> bool {
    let width = q.len() + 1;
    // reach[i * width + j]: the suffixes p[i..] and q[j..] can match a common string.
    let mut reach = vec![false; (p.len() + 1) * width];
    for i in (0..=p.len()).rev() {
        for j in (0..=q.len()).rev() {
            let at = |i: usize, j: usize| reach[i * width + j];
            let value = match (p.get(i), q.get(j)) {
                (None, None) => true,
                (Some(b'*'), _) => at(i + 1, j) || (j < q.len() && at(i, j + 1)),
                (_, Some(b'*')) => at(i, j + 1) || (i < p.len() && at(i + 1, j)),
                (Some(a), Some(b)) => (a == b || *a == b'?' || *b == b'?') && at(i + 1, j + 1),
                _ => false,
            };
            reach[i * width + j] = value;
        }
    }
    reach[0]
}

#[cfg(test)]
mod tests {
    use super::NamePattern;

    #[test]
    fn matching() {
        let p = NamePattern::new("acme-*");
        assert!(p.matches("acme-prod"));
        assert!(p.matches("acme-"));
        assert!(!p.matches("acm-prod"));
        assert!(NamePattern::new("team-?").matches("team-a"));
        assert!(!NamePattern::new("team-?").matches("team-ab"));
        assert!(NamePattern::new("web").matches("web"));
        assert!(!NamePattern::new("web").matches("web2"));
        assert!(NamePattern::new("*-prod").matches("acme-prod"));
    }

    #[test]
    fn overlaps() {
        let o = |a: &str, b: &str| NamePattern::new(a).overlaps(&NamePattern::new(b));
        assert!(o("acme-*", "acme-prod"));
        assert!(o("acme-*", "*-prod"), "acme-prod matches both");
        assert!(o("team-*", "team-a-*"));
        assert!(!o("acme-*", "beta-*"));
        assert!(!o("a?c", "abd"));
        assert!(o("a?c", "a*"));
        assert!(!o("x", "y"));
        assert!(o("*", "anything"));
    }
}
