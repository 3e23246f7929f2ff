//! Node pod-CIDR allocation: node n gets the n-th subnet of the cluster pod
//! CIDR (10.0.0.0/16 with /24 per node → node-n gets 10.0.n.0/24). A node's
//! index is the trailing number of a name like `node-<n>` when that subnet is
//! free, else the lowest free one. A CIDR already in a node's spec is never
//! changed, so the allocation is stable across restarts: the state is the
//! Nodes themselves.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CidrAllocator {
    cluster: Ipv4Net,
    node_prefix: u8,
}

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum IpamError {
    #[error("node CIDR mask /{node} must be between the cluster CIDR's /{cluster} and /30")]
    BadMask { cluster: u8, node: u8 },
    #[error("node {0}: no free pod CIDR left in {1}")]
    Exhausted(String, Ipv4Net),
}

impl CidrAllocator {
    pub fn new(cluster: Ipv4Net, node_prefix: u8) -> Result<Self, IpamError> {
        if node_prefix < cluster.prefix_len() || node_prefix > 30 {
            return Err(IpamError::BadMask {
                cluster: cluster.prefix_len(),
                node: node_prefix,
            });
        }
        Ok(CidrAllocator {
            cluster: cluster.trunc(),
            node_prefix,
        })
    }

    /// How many node subnets the cluster CIDR holds.
    pub fn capacity(&self) -> u64 {
        1u64 << (self.node_prefix - self.cluster.prefix_len())
    }

    /// The n-th node subnet.
    pub fn subnet(&self, n: u64) -> Option<Ipv4Net> {
        if n >= self.capacity() {
            return None;
        }
        let base = u32::from(self.cluster.network()) as u64;
        let addr = base + (n << (32 - self.node_prefix));
        Ipv4Net::new(Ipv4Addr::from(addr as u32), self.node_prefix).ok()
    }

    /// The index of `cidr` when it is exactly one of our node subnets.
    pub fn index_of(&self, cidr: &str) -> Option<u64> {
        let net: Ipv4Net = cidr.parse().ok()?;
        if net.prefix_len() != self.node_prefix || !self.cluster.contains(&net) || net.trunc() != net {
            return None;
        }
        let off = u32::from(net.network()) - u32::from(self.cluster.network());
        Some((off >> (32 - self.node_prefix)) as u64)
    }

    /// Assignments for the nodes that have no pod CIDR yet. `nodes` are
    /// `(name, current spec.podCIDR)`.
    pub fn plan(&self, nodes: &[(String, Option<String>)]) -> Vec<(String, Result<Ipv4Net, IpamError>)> {
        let mut used: BTreeSet<u64> = nodes
            .iter()
            .filter_map(|(_, c)| c.as_deref().and_then(|c| self.index_of(c)))
            .collect();
        let mut todo: Vec<&String> = nodes
            .iter()
            .filter(|(_, c)| c.as_deref().is_none_or(str::is_empty))
            .map(|(n, _)| n)
            .collect();
        todo.sort();
        todo.dedup();

        let mut out = Vec::new();
        let mut rest = Vec::new();
        // Named nodes first, so node-2 gets its own subnet even when an
        // unnumbered node shows up at the same time.
        for name in todo {
            match trailing_index(name).filter(|n| *n < self.capacity() && !used.contains(n)) {
                Some(n) => {
                    used.insert(n);
                    out.push((name.clone(), Ok(self.subnet(n).expect("n < capacity"))));
                }
                None => rest.push(name),
            }
        }
        for name in rest {
            let free = (0..self.capacity()).find(|n| !used.contains(n));
            out.push((
                name.clone(),
                match free {
                    Some(n) => {
                        used.insert(n);
                        Ok(self.subnet(n).expect("n < capacity"))
                    }
                    None => Err(IpamError::Exhausted(name.clone(), self.cluster)),
                },
            ));
        }
        out
    }
}

/// `7` for "node-7"; None when the name does not end in `-<digits>`.
pub fn trailing_index(name: &str) -> Option<u64> {
    let (_, digits) = name.rsplit_once('-')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alloc() -> CidrAllocator {
        CidrAllocator::new("10.0.0.0/16".parse().unwrap(), 24).unwrap()
    }

    fn nodes(v: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
        v.iter()
            .map(|(n, c)| (n.to_string(), c.map(str::to_string)))
            .collect()
    }

    fn ok(plan: Vec<(String, Result<Ipv4Net, IpamError>)>) -> Vec<(String, String)> {
        plan.into_iter()
            .map(|(n, r)| (n, r.unwrap().to_string()))
            .collect()
    }

    #[test]
    fn numbered_nodes_get_their_own_subnet() {
        let p = ok(alloc().plan(&nodes(&[("node-1", None), ("node-0", None), ("node-2", None)])));
        assert_eq!(
            p,
            vec![
                ("node-0".to_string(), "10.0.0.0/24".to_string()),
                ("node-1".to_string(), "10.0.1.0/24".to_string()),
                ("node-2".to_string(), "10.0.2.0/24".to_string()),
            ]
        );
    }

    #[test]
    fn existing_cidrs_are_kept_and_skipped() {
        // node-1 already holds 10.0.5.0/24 (say from an earlier run); node-5
        // must then take a free one in name order, not its "own".
        let p = ok(alloc().plan(&nodes(&[
            ("node-1", Some("10.0.5.0/24")),
            ("node-0", Some("10.0.0.0/24")),
            ("node-5", None),
            ("edge", None),
        ])));
        assert_eq!(
            p,
            vec![
                ("edge".to_string(), "10.0.1.0/24".to_string()),
                ("node-5".to_string(), "10.0.2.0/24".to_string()),
            ]
        );
        // Nothing to do when everyone has one: stable across restarts.
        assert!(alloc()
            .plan(&nodes(&[("node-0", Some("10.0.0.0/24"))]))
            .is_empty());
    }

    #[test]
    fn unnumbered_names_take_lowest_free_in_name_order() {
        let p = ok(alloc().plan(&nodes(&[
            ("worker-b", None),
            ("node-0", None),
            ("worker-a", None),
        ])));
        assert_eq!(p[0], ("node-0".to_string(), "10.0.0.0/24".to_string()));
        assert_eq!(p[1], ("worker-a".to_string(), "10.0.1.0/24".to_string()));
        assert_eq!(p[2], ("worker-b".to_string(), "10.0.2.0/24".to_string()));
    }

    #[test]
    fn index_math_and_limits() {
        let a = alloc();
        assert_eq!(a.capacity(), 256);
        assert_eq!(a.subnet(255).unwrap().to_string(), "10.0.255.0/24");
        assert_eq!(a.subnet(256), None);
        assert_eq!(a.index_of("10.0.7.0/24"), Some(7));
        assert_eq!(a.index_of("10.1.7.0/24"), None);
        assert_eq!(a.index_of("10.0.7.0/25"), None);
        assert_eq!(a.index_of("10.0.7.1/24"), None);
        let b = CidrAllocator::new("10.244.0.0/16".parse().unwrap(), 26).unwrap();
        assert_eq!(b.subnet(5).unwrap().to_string(), "10.244.1.64/26");
        assert_eq!(trailing_index("node-12"), Some(12));
        assert_eq!(trailing_index("node-"), None);
        assert_eq!(trailing_index("node12"), None);
        assert_eq!(trailing_index("kind-worker-x"), None);
        assert!(matches!(
            CidrAllocator::new("10.0.0.0/16".parse().unwrap(), 8),
            Err(IpamError::BadMask { .. })
        ));
    }

    #[test]
    fn exhaustion_is_an_error_naming_the_node() {
        let a = CidrAllocator::new("10.0.0.0/23".parse().unwrap(), 24).unwrap();
        let p = a.plan(&nodes(&[("a", None), ("b", None), ("c", None)]));
        assert_eq!(p[0].1.as_ref().unwrap().to_string(), "10.0.0.0/24");
        assert_eq!(p[1].1.as_ref().unwrap().to_string(), "10.0.1.0/24");
        let err = p[2].1.clone().unwrap_err();
        assert_eq!(err.to_string(), "node c: no free pod CIDR left in 10.0.0.0/23");
    }
}
