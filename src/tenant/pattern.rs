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

/// Finds which owner's pattern matches a name without trying every pattern: exact names by hash,
/// globs by their literal prefix (`acme-*` is only tried for names starting `acme-`); globs that
/// start with a wildcard are tried one by one.
#[derive(Debug, Default)]
pub struct PatternIndex {
    exact: std::collections::HashMap<String, usize>,
    by_prefix: std::collections::HashMap<String, Vec<(NamePattern, usize)>>,
    unanchored: Vec<(NamePattern, usize)>,
}

impl PatternIndex {
    /// Adds `pattern` for `owner`.
    pub fn insert(&mut self, pattern: &NamePattern, owner: usize) {
        if !pattern.glob {
            self.exact.entry(pattern.text.clone()).or_insert(owner);
            return;
        }
        let prefix = &pattern.text[..pattern.text.find(['*', '?']).unwrap_or(pattern.text.len())];
        if prefix.is_empty() {
            self.unanchored.push((pattern.clone(), owner));
        } else {
            self.by_prefix
                .entry(prefix.to_owned())
                .or_default()
                .push((pattern.clone(), owner));
        }
    }

    /// The lowest owner whose pattern matches `name`.
    pub fn find(&self, name: &str) -> Option<usize> {
        if let Some(&owner) = self.exact.get(name) {
            return Some(owner);
        }
        let prefixed = (1..=name.len())
            .filter(|&i| name.is_char_boundary(i))
            .filter_map(|i| self.by_prefix.get(&name[..i]))
            .flatten();
        prefixed
            .chain(&self.unanchored)
            .filter(|(p, _)| p.matches(name))
            .map(|(_, owner)| *owner)
            .min()
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
    fn index_finds_exact_prefixed_and_unanchored_patterns() {
        let mut index = super::PatternIndex::default();
        for (i, p) in ["shop", "acme-*", "acme-prod-?", "*-sandbox"].iter().enumerate() {
            index.insert(&NamePattern::new(p), i);
        }
        assert_eq!(index.find("shop"), Some(0));
        assert_eq!(index.find("acme-x"), Some(1));
        assert_eq!(index.find("acme-prod-1"), Some(1), "lowest owner wins");
        assert_eq!(index.find("team-sandbox"), Some(3));
        assert_eq!(index.find("other"), None);
        assert_eq!(index.find(""), None);
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
