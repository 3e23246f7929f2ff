//! metav1.LabelSelector matching: matchLabels and matchExpressions, all
//! ANDed; the empty selector matches everything.

use std::collections::BTreeMap;

/// A pod's or namespace's labels, sorted by key and sized exactly. Every
/// node's agent keeps every pod's labels: in a BTreeMap the first node
/// alone is over 500 bytes, for the usual one or two labels.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Labels(Box<[(String, String)]>);

impl Labels {
    pub fn get(&self, key: &str) -> Option<&String> {
        let i = self.0.binary_search_by(|(k, _)| k.as_str().cmp(key)).ok()?;
        Some(&self.0[i].1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// Set `key` (a label already there takes the new value).
    pub fn insert(&mut self, key: String, value: String) {
        let mut all: BTreeMap<String, String> = std::mem::take(self).into_iter().collect();
        all.insert(key, value);
        *self = all.into_iter().collect();
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// As a map is built: a key given twice keeps its last value.
impl FromIterator<(String, String)> for Labels {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Self {
        let sorted: BTreeMap<String, String> = pairs.into_iter().collect();
        Labels(sorted.into_iter().collect())
    }
}

impl<const N: usize> From<[(String, String); N]> for Labels {
    fn from(pairs: [(String, String); N]) -> Self {
        pairs.into_iter().collect()
    }
}

impl IntoIterator for Labels {
    type Item = (String, String);
    type IntoIter = std::vec::IntoIter<(String, String)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_vec().into_iter()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    pub labels: Labels,
    pub expressions: Vec<(String, Op)>,
}

impl Selector {
    pub fn labels<const N: usize>(pairs: [(&str, &str); N]) -> Self {
        Self {
            labels: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            expressions: vec![],
        }
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        self.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            && self.expressions.iter().all(|(k, op)| {
                let have = labels.get(k);
                match op {
                    Op::In(vs) => have.is_some_and(|h| vs.contains(h)),
                    Op::NotIn(vs) => have.is_none_or(|h| !vs.contains(h)),
                    Op::Exists => have.is_some(),
                    Op::DoesNotExist => have.is_none(),
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_matches_all_and_expressions_and() {
        let l: Labels = [("app", "web"), ("tier", "fe")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert!(Selector::default().matches(&l));
        assert!(Selector::labels([("app", "web")]).matches(&l));
        assert!(!Selector::labels([("app", "db")]).matches(&l));
        let mut s = Selector::labels([("app", "web")]);
        s.expressions.push(("tier".into(), Op::NotIn(vec!["fe".into()])));
        assert!(!s.matches(&l));
        s.expressions = vec![("x".into(), Op::DoesNotExist), ("tier".into(), Op::Exists)];
        assert!(s.matches(&l));
    }
}
