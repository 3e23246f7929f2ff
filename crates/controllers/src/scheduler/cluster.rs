//! The scheduler's view of the cluster, built for many decisions in a row:
//! pods with the same requirements share an ordered index of their feasible
//! nodes keyed by (pod count, name order), so a decision is a lookup of the
//! first entry instead of a scan of every node.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::filter::{check, Reject};
use super::{NodeInfo, PodRequirements};

/// No node fits; `message` reads like the real scheduler's FailedScheduling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unschedulable {
    pub message: String,
}

impl std::fmt::Display for Unschedulable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

struct Group {
    /// (pods on the node, node position in name order) of feasible nodes.
    feasible: BTreeSet<(u32, u32)>,
    /// Set when nothing fits, computed once per group.
    failure: Option<Unschedulable>,
}

pub struct Cluster {
    /// Sorted by name, so position order is name order.
    nodes: Vec<NodeInfo>,
    by_name: HashMap<String, u32>,
    pods: Vec<u32>,
    groups: HashMap<PodRequirements, Group>,
}

impl Cluster {
    pub fn new(mut nodes: Vec<NodeInfo>) -> Self {
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        nodes.dedup_by(|a, b| a.name == b.name);
        let by_name = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.clone(), i as u32))
            .collect();
        let pods = vec![0; nodes.len()];
        Cluster {
            nodes,
            by_name,
            pods,
            groups: HashMap::new(),
        }
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Counts a pod already bound to `node` (unknown nodes are ignored, as a
    /// pod bound to a vanished node takes no room anywhere).
    pub fn add_bound_pod(&mut self, node: &str) {
        if let Some(&i) = self.by_name.get(node) {
            self.bump(i);
        }
    }

    pub fn pods_on(&self, node: &str) -> Option<u32> {
        self.by_name.get(node).map(|&i| self.pods[i as usize])
    }

    fn bump(&mut self, i: u32) {
        let old = self.pods[i as usize];
        self.pods[i as usize] = old + 1;
        for g in self.groups.values_mut() {
            if g.feasible.remove(&(old, i)) {
                g.feasible.insert((old + 1, i));
            }
        }
    }

    fn group(&mut self, req: &PodRequirements) -> &Group {
        if !self.groups.contains_key(req) {
            let mut feasible = BTreeSet::new();
            let mut reasons: BTreeMap<Reject, usize> = BTreeMap::new();
            for (i, n) in self.nodes.iter().enumerate() {
                match check(req, n) {
                    Ok(()) => {
                        feasible.insert((self.pods[i], i as u32));
                    }
                    Err(r) => *reasons.entry(r).or_default() += 1,
                }
            }
            let failure = feasible
                .is_empty()
                .then(|| failure_message(self.nodes.len(), &reasons));
            self.groups.insert(req.clone(), Group { feasible, failure });
        }
        &self.groups[req]
    }

    /// Picks a node for a pod with these requirements and counts the pod on
    /// it, so the next decision sees it.
    pub fn schedule(&mut self, req: &PodRequirements) -> Result<String, Unschedulable> {
        let g = self.group(req);
        if let Some(f) = &g.failure {
            return Err(f.clone());
        }
        let &(_, i) = g.feasible.first().expect("non-empty when no failure");
        self.bump(i);
        Ok(self.nodes[i as usize].name.clone())
    }
}

/// "0/3 nodes are available: 1 node(s) had untolerated taint {k: }, 2 node(s)
/// didn't match Pod's node affinity/selector. preemption: ..." — the counts
/// are sorted as text, as the real scheduler sorts its histogram.
pub fn failure_message(total: usize, reasons: &BTreeMap<Reject, usize>) -> Unschedulable {
    let mut parts: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
    parts.sort();
    let head = if total == 0 {
        "no nodes available to schedule pods".to_string()
    } else {
        format!("0/{total} nodes are available: {}.", parts.join(", "))
    };
    let message = if total == 0 {
        head
    } else {
        format!(
            "{head} preemption: 0/{total} nodes are available: {total} Preemption is not helpful for scheduling."
        )
    };
    Unschedulable { message }
}
