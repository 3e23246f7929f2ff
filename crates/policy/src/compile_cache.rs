//! [`compile_node`](crate::compile_node) for a node agent that compiles
//! after every change: what each isolating policy allows each pod is kept
//! and reused while that policy, that pod, and (only for policies whose
//! peers are pods, or that name egress ports) the cluster's pods and
//! namespace labels are as they were. A stream of policy writes then
//! recomputes, per write, only the allows of the policy written, instead
//! of every policy's against every pod. The result always equals
//! `compile_node`'s (tests below, on random clusters and changes).

use std::collections::HashMap;

use crate::compile::{compile_node_with, policy_allows, reads_pods, Allow, Compiled};
use crate::model::{Cluster, Direction, Pod, Policy, PolicyRef};

/// (policy, subject namespace, subject name, direction).
type Key = (PolicyRef, String, String, Direction);

struct Entry {
    policy: Policy,
    subject: Pod,
    /// The pods generation the allows were computed in; None when they do
    /// not depend on the pods.
    generation: Option<u64>,
    allows: Vec<Allow>,
}

/// Per-policy, per-pod allows kept between compiles.
#[derive(Default)]
pub struct CompileCache {
    entries: HashMap<Key, Entry>,
    /// The pods and namespace labels of the last compile, as a
    /// fingerprint, and a number that changes whenever they do. A copy to
    /// compare against cost every node's network agent another ~1 KiB
    /// per pod of the whole cluster.
    seen: Option<u128>,
    generation: u64,
    /// (policy, pod, direction) allows computed by the last compile.
    computed: usize,
}

impl CompileCache {
    /// The rules for the pods on `node` (every pod when None), equal to
    /// `compile_node(c, node)`.
    pub fn compile_node(&mut self, c: &Cluster, node: Option<&str>) -> Compiled {
        let seen = Some(fingerprint(c));
        if self.seen != seen {
            self.seen = seen;
            self.generation += 1;
        }
        let generation = self.generation;
        let mut old = std::mem::take(&mut self.entries);
        let mut kept = HashMap::with_capacity(old.len());
        let mut computed = 0;
        let compiled = compile_node_with(c, node, |pol, pod, dir| {
            let key = (pol.reference(), pod.namespace.clone(), pod.name.clone(), dir);
            let wanted = reads_pods(pol, dir).then_some(generation);
            let entry = match old.remove(&key) {
                Some(e) if e.policy == *pol && e.subject == *pod && e.generation == wanted => e,
                _ => {
                    computed += 1;
                    Entry {
                        policy: pol.clone(),
                        subject: pod.clone(),
                        generation: wanted,
                        allows: policy_allows(c, pol, pod, dir),
                    }
                }
            };
            let allows = entry.allows.clone();
            // What no compile asks for any more (a deleted policy or pod)
            // is left in `old` and dropped.
            kept.insert(key, entry);
            allows
        });
        self.entries = kept;
        self.computed = computed;
        compiled
    }

    /// How many (policy, pod, direction) allow lists the last compile
    /// computed rather than reused.
    pub fn computed(&self) -> usize {
        self.computed
    }

    /// How many are kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// 128 bits of the cluster's pods and namespace labels: two SipHash
/// passes told apart by a first byte. Equal inputs give equal prints; a
/// change going unseen would need a 128-bit collision.
fn fingerprint(c: &Cluster) -> u128 {
    use std::hash::{Hash, Hasher};
    let half = |salt: u8| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        salt.hash(&mut h);
        c.pods.hash(&mut h);
        c.namespaces.hash(&mut h);
        h.finish()
    };
    (u128::from(half(0)) << 64) | u128::from(half(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::compile_node;
    use crate::model::{NamedPort, Peer, PolicyPort, PortMatch, Protocol, Rule};
    use crate::selector::Selector;

    fn pod(ns: &str, name: &str, app: &str, ip: u8, node: &str) -> Pod {
        Pod {
            namespace: ns.into(),
            name: name.into(),
            labels: [("app".to_string(), app.to_string())].into(),
            ip: Some([10, 0, 0, ip].into()),
            node: node.into(),
            ports: vec![NamedPort {
                name: "http".into(),
                port: 8000 + u16::from(ip),
                protocol: Protocol::Tcp,
            }],
        }
    }

    fn block_policy(name: &str, i: u8) -> Policy {
        Policy {
            namespace: "x".into(),
            name: name.into(),
            pod_selector: Selector::labels([("app", "server")]),
            ingress: Some(vec![Rule {
                peers: vec![Peer::IpBlock {
                    cidr: format!("10.200.0.{i}/32").parse().unwrap(),
                    except: vec![],
                }],
                ports: vec![PolicyPort {
                    protocol: Protocol::Tcp,
                    port: PortMatch::Range(8080, 8080),
                }],
            }]),
            egress: None,
        }
    }

    fn from_clients() -> Policy {
        Policy {
            namespace: "x".into(),
            name: "zz-clients".into(),
            pod_selector: Selector::labels([("app", "server")]),
            ingress: Some(vec![Rule {
                peers: vec![Peer::Pods {
                    namespaces: None,
                    pods: Some(Selector::labels([("app", "client")])),
                }],
                ports: vec![],
            }]),
            egress: None,
        }
    }

    fn cluster() -> Cluster {
        let mut c = Cluster {
            pods: vec![
                pod("x", "server", "server", 2, "node-2"),
                pod("x", "server2", "server", 3, "node-2"),
                pod("x", "client", "client", 4, "node-1"),
            ],
            ..Default::default()
        };
        c.policies = (1..=50).map(|i| block_policy(&format!("p-{i:02}"), i)).collect();
        c.policies.push(from_clients());
        c
    }

    /// One policy written among fifty: only its allows, for the two pods
    /// it selects, are computed again; a pod peer's change recomputes only
    /// the policy whose peers are pods.
    #[test]
    fn a_change_recomputes_only_what_it_touches() {
        let mut c = cluster();
        let mut cache = CompileCache::default();
        let first = cache.compile_node(&c, Some("node-2"));
        assert_eq!(first, compile_node(&c, Some("node-2")));
        assert_eq!(cache.computed(), 51 * 2);
        assert_eq!(cache.len(), 51 * 2);

        let again = cache.compile_node(&c, Some("node-2"));
        assert_eq!((again, cache.computed()), (first.clone(), 0));

        c.policies[7] = block_policy("p-08", 99);
        let changed = cache.compile_node(&c, Some("node-2"));
        assert_eq!(changed, compile_node(&c, Some("node-2")));
        assert_ne!(changed, first);
        assert_eq!(cache.computed(), 2, "p-08 for server and server2");

        // A new client: only zz-clients (pod peers) is computed again.
        c.pods.push(pod("x", "client2", "client", 5, "node-1"));
        assert_eq!(
            cache.compile_node(&c, Some("node-2")),
            compile_node(&c, Some("node-2"))
        );
        assert_eq!(cache.computed(), 2, "zz-clients for server and server2");

        // A deleted policy's entries go.
        c.policies.remove(0);
        assert_eq!(
            cache.compile_node(&c, Some("node-2")),
            compile_node(&c, Some("node-2"))
        );
        assert_eq!((cache.computed(), cache.len()), (0, 50 * 2));
    }

    /// The print stands in for the copy the cache kept: what a compile
    /// reads from pods and namespaces changes it, an equal cluster not.
    #[test]
    fn the_fingerprint_follows_pods_and_namespace_labels() {
        let c = cluster();
        assert_eq!(fingerprint(&c), fingerprint(&c.clone()));
        let mut moved = c.clone();
        moved.pods[0].ip = Some([10, 0, 0, 250].into());
        let mut relabelled = c.clone();
        relabelled
            .namespaces
            .insert("x".into(), [("team".to_string(), "y".to_string())].into());
        let mut renamed_port = c.clone();
        renamed_port.pods[0].ports[0].name = "web".into();
        let mut policy_only = c.clone();
        policy_only.policies.pop();
        let prints = [&moved, &relabelled, &renamed_port].map(fingerprint);
        assert!(prints.iter().all(|p| *p != fingerprint(&c)), "{prints:x?}");
        assert_eq!(
            fingerprint(&policy_only),
            fingerprint(&c),
            "policies are keyed apart"
        );
    }

    use labyrinth_testkit::rng::Rng;

    const APPS: [&str; 3] = ["a", "b", "c"];
    const NSS: [&str; 2] = ["x", "y"];

    fn random_selector(r: &mut Rng) -> Selector {
        match r.below(3) {
            0 => Selector::default(),
            _ => Selector::labels([("app", APPS[r.below(3)])]),
        }
    }

    fn random_rule(r: &mut Rng) -> Rule {
        let peers = (0..r.below(3))
            .map(|_| match r.below(3) {
                0 => Peer::IpBlock {
                    cidr: format!("10.0.0.0/{}", 24 + r.below(9)).parse().unwrap(),
                    except: vec![],
                },
                1 => Peer::Pods {
                    namespaces: None,
                    pods: Some(random_selector(r)),
                },
                _ => Peer::Pods {
                    namespaces: Some(Selector::labels([("team", NSS[r.below(2)])])),
                    pods: (r.below(2) == 0).then(|| random_selector(r)),
                },
            })
            .collect();
        let ports = (0..r.below(3))
            .map(|_| PolicyPort {
                protocol: [Protocol::Tcp, Protocol::Udp][r.below(2)],
                port: match r.below(3) {
                    0 => PortMatch::Any,
                    1 => PortMatch::Range(80, 80 + r.below(3) as u16),
                    _ => PortMatch::Named("http".into()),
                },
            })
            .collect();
        Rule { peers, ports }
    }

    fn random_policy(r: &mut Rng, name: usize) -> Policy {
        let rules = |r: &mut Rng| (0..r.below(3)).map(|_| random_rule(r)).collect();
        Policy {
            namespace: NSS[r.below(2)].into(),
            name: format!("p{name}"),
            pod_selector: random_selector(r),
            ingress: (r.below(3) > 0).then(|| rules(r)),
            egress: (r.below(2) == 0).then(|| rules(r)),
        }
    }

    fn random_pod(r: &mut Rng, name: usize) -> Pod {
        let mut p = pod(
            NSS[r.below(2)],
            &format!("pod{name}"),
            APPS[r.below(3)],
            (r.below(250) + 1) as u8,
            ["node-1", "node-2"][r.below(2)],
        );
        if r.below(5) == 0 {
            p.ip = None;
        }
        p
    }

    /// Random clusters changed at random, step by step: the cached compile
    /// always equals the full one, for one node and for all.
    #[test]
    fn equals_a_full_compile_through_random_changes() {
        let mut r = Rng(0x5eed_1234_abcd_9876);
        for _ in 0..40 {
            let mut c = Cluster::default();
            for ns in NSS {
                c.namespaces
                    .insert(ns.into(), [("team".to_string(), ns.to_string())].into());
            }
            let mut next = 0;
            c.pods = (0..6).map(|i| random_pod(&mut r, i)).collect();
            c.policies = (0..6).map(|i| random_policy(&mut r, i)).collect();
            let mut node = CompileCache::default();
            let mut all = CompileCache::default();
            for _ in 0..30 {
                next += 1;
                match r.below(7) {
                    0 => c.policies.push(random_policy(&mut r, 100 + next)),
                    1 if !c.policies.is_empty() => {
                        let i = r.below(c.policies.len());
                        c.policies.remove(i);
                    }
                    2 if !c.policies.is_empty() => {
                        let i = r.below(c.policies.len());
                        let name = c.policies[i].name.clone();
                        c.policies[i] = Policy {
                            name,
                            ..random_policy(&mut r, 0)
                        };
                    }
                    3 => c.pods.push(random_pod(&mut r, 100 + next)),
                    4 if !c.pods.is_empty() => {
                        let i = r.below(c.pods.len());
                        c.pods[i].labels.insert("app".into(), APPS[r.below(3)].into());
                    }
                    5 => {
                        let ns = NSS[r.below(2)];
                        c.namespaces.insert(
                            ns.into(),
                            [("team".to_string(), NSS[r.below(2)].to_string())].into(),
                        );
                    }
                    _ if !c.pods.is_empty() => {
                        let i = r.below(c.pods.len());
                        c.pods.remove(i);
                    }
                    _ => {}
                }
                assert_eq!(
                    node.compile_node(&c, Some("node-1")),
                    compile_node(&c, Some("node-1"))
                );
                assert_eq!(all.compile_node(&c, None), compile_node(&c, None));
            }
        }
    }
}
