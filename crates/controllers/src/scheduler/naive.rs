//! The straightforward scheduler, kept as the benchmark's baseline and as a
//! cross-check in tests: every decision filters every node and scans for the
//! least loaded one.

use std::collections::BTreeMap;

use super::cluster::{failure_message, Unschedulable};
use super::filter::{check, Reject};
use super::{NodeInfo, PodRequirements};

pub struct NaiveCluster {
    nodes: Vec<NodeInfo>,
    pods: Vec<u32>,
}

impl NaiveCluster {
    pub fn new(nodes: Vec<NodeInfo>) -> Self {
        let pods = vec![0; nodes.len()];
        NaiveCluster { nodes, pods }
    }

    pub fn add_bound_pod(&mut self, node: &str) {
        if let Some(i) = self.nodes.iter().position(|n| n.name == node) {
            self.pods[i] += 1;
        }
    }

    pub fn schedule(&mut self, req: &PodRequirements) -> Result<String, Unschedulable> {
        let mut best: Option<usize> = None;
        let mut reasons: BTreeMap<Reject, usize> = BTreeMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            match check(req, n) {
                Ok(()) => {
                    let better =
                        best.is_none_or(|b| (self.pods[i], &n.name) < (self.pods[b], &self.nodes[b].name));
                    if better {
                        best = Some(i);
                    }
                }
                Err(r) => *reasons.entry(r).or_default() += 1,
            }
        }
        match best {
            Some(i) => {
                self.pods[i] += 1;
                Ok(self.nodes[i].name.clone())
            }
            None => Err(failure_message(self.nodes.len(), &reasons)),
        }
    }
}
