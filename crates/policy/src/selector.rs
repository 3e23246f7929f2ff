//! metav1.LabelSelector matching: matchLabels and matchExpressions, all
//! ANDed; the empty selector matches everything.

use std::collections::BTreeMap;

pub type Labels = BTreeMap<String, String>;

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
