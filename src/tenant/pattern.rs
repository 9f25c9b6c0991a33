//! Name patterns for namespaces and object names: an exact name, or a glob where `*` matches any
//! run of characters and `?` one character. Two patterns can be checked for overlap, so that two
//! tenants claiming the same namespace is caught at load, not at the first request.

use std::collections::BTreeMap;

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

    /// The text before the first wildcard (the whole name for an exact pattern).
    fn literal_prefix(&self) -> &str {
        &self.text[..self.text.find(['*', '?']).unwrap_or(self.text.len())]
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

/// Finds which owner's pattern matches a name without trying every pattern: exact names by
/// lookup, globs by their literal prefix (`acme-*` is only tried for names starting `acme-`);
/// globs that start with a wildcard are tried one by one. Also finds the patterns that overlap a
/// new one, so that load-time checks stay near-linear in the number of tenants.
#[derive(Debug, Default)]
pub struct PatternIndex {
    exact: BTreeMap<String, Vec<(NamePattern, usize)>>,
    by_prefix: BTreeMap<String, Vec<(NamePattern, usize)>>,
    unanchored: Vec<(NamePattern, usize)>,
}

impl PatternIndex {
    /// Adds `pattern` for `owner`.
    pub fn insert(&mut self, pattern: &NamePattern, owner: usize) {
        let entry = (pattern.clone(), owner);
        if !pattern.glob {
            self.exact.entry(pattern.text.clone()).or_default().push(entry);
            return;
        }
        let prefix = pattern.literal_prefix();
        if prefix.is_empty() {
            self.unanchored.push(entry);
        } else {
            self.by_prefix.entry(prefix.to_owned()).or_default().push(entry);
        }
    }

    /// The lowest owner whose pattern matches `name`.
    pub fn find(&self, name: &str) -> Option<usize> {
        let exact = self.exact.get(name).into_iter().flatten();
        let prefixed = (1..=name.len())
            .filter(|&i| name.is_char_boundary(i))
            .filter_map(|i| self.by_prefix.get(&name[..i]))
            .flatten();
        exact
            .chain(prefixed)
            .chain(&self.unanchored)
            .filter(|(p, _)| p.matches(name))
            .map(|(_, owner)| *owner)
            .min()
    }

    /// Every indexed pattern that some name matches together with `pattern`, with its owner.
    pub fn overlapping<'a>(&'a self, pattern: &'a NamePattern) -> impl Iterator<Item = &'a (NamePattern, usize)> + 'a {
        let prefix = pattern.literal_prefix();
        // Globs whose literal part is a prefix of this one's...
        let shorter = (1..=prefix.len())
            .filter(move |&i| prefix.is_char_boundary(i))
            .filter_map(move |i| self.by_prefix.get(&prefix[..i]))
            .flatten();
        // ...names and globs whose literal part starts with it (all of them for an unanchored new
        // pattern), and the unanchored globs.
        let longer = self
            .exact
            .range(prefix.to_owned()..)
            .take_while(move |(k, _)| k.starts_with(prefix))
            .chain(
                self.by_prefix
                    .range(prefix.to_owned()..)
                    .take_while(move |(k, _)| k.starts_with(prefix)),
            )
            .flat_map(|(_, v)| v);
        shorter
            .chain(longer)
            .chain(&self.unanchored)
            .filter(move |(p, _)| p.overlaps(pattern))
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
    fn index_lists_overlapping_patterns() {
        let mut index = super::PatternIndex::default();
        for (i, p) in ["shop", "acme-*", "acme-prod-1", "*-sandbox", "beta-?", "team-a-*"]
            .iter()
            .enumerate()
        {
            index.insert(&NamePattern::new(p), i);
        }
        let owners = |p: &str| {
            let pattern = NamePattern::new(p);
            let mut o: Vec<usize> = index.overlapping(&pattern).map(|(_, owner)| *owner).collect();
            o.sort_unstable();
            o.dedup();
            o
        };
        assert_eq!(owners("shop"), [0]);
        assert_eq!(
            owners("acme-prod-*"),
            [1, 2, 3],
            "acme-prod-x-sandbox matches *-sandbox too"
        );
        assert_eq!(owners("acme-x-sandbox"), [1, 3]);
        assert_eq!(owners("a*"), [1, 2, 3]);
        assert_eq!(owners("team-*"), [3, 5]);
        assert_eq!(owners("beta-1"), [4]);
        assert_eq!(owners("zeta"), Vec::<usize>::new());
        assert_eq!(owners("*"), [0, 1, 2, 3, 4, 5]);
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
