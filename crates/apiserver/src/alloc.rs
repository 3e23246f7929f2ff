//! ClusterIP allocation over the service CIDR, done at Service create time as
//! the real API server does. The first address is default/kubernetes and the
//! tenth is held for kube-system/kube-dns.

use ipnet::Ipv4Net;
use std::collections::HashSet;
use std::net::Ipv4Addr;

pub struct ClusterIpAllocator {
    net: Ipv4Net,
    used: HashSet<Ipv4Addr>,
    next: u32,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AllocError {
    #[error("failed to allocate IP {0}: provided IP is already allocated")]
    Taken(Ipv4Addr),
    #[error(
        "failed to allocate IP {0}: provided IP is not in the valid range. The range of valid IPs is {1}"
    )]
    OutOfRange(Ipv4Addr, Ipv4Net),
    #[error("failed to allocate a serviceIP: range is full")]
    Full,
}

impl ClusterIpAllocator {
    pub fn new(net: Ipv4Net) -> Self {
        Self {
            net,
            used: HashSet::new(),
            next: 11,
        }
    }

    /// The n-th address of the range (1 → kubernetes, 10 → kube-dns).
    pub fn nth(&self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.net.network()) + n)
    }

    fn size(&self) -> u32 {
        1u32 << (32 - self.net.prefix_len())
    }

    /// Allocate `want`, or the next free address outside the reserved ones.
    pub fn allocate(&mut self, ns: &str, name: &str, want: Option<Ipv4Addr>) -> Result<Ipv4Addr, AllocError> {
        if let Some(ip) = want {
            let off = u32::from(ip).wrapping_sub(u32::from(self.net.network()));
            if !self.net.contains(&ip) || off == 0 || off >= self.size() - 1 {
                return Err(AllocError::OutOfRange(ip, self.net));
            }
            if !self.used.insert(ip) {
                return Err(AllocError::Taken(ip));
            }
            return Ok(ip);
        }
        let reserved = match (ns, name) {
            ("default", "kubernetes") => Some(self.nth(1)),
            ("kube-system", "kube-dns") => Some(self.nth(10)),
            _ => None,
        };
        if let Some(ip) = reserved {
            if self.used.insert(ip) {
                return Ok(ip);
            }
        }
        let size = self.size();
        for _ in 0..size {
            let off = self.next;
            self.next = if self.next + 1 >= size - 1 {
                2
            } else {
                self.next + 1
            };
            if off == 1 || off == 10 || off == 0 || off >= size - 1 {
                continue;
            }
            let ip = self.nth(off);
            if self.used.insert(ip) {
                return Ok(ip);
            }
        }
        Err(AllocError::Full)
    }

    /// Mark an address taken (replaying stored Services at startup).
    pub fn mark(&mut self, ip: Ipv4Addr) {
        self.used.insert(ip);
    }

    pub fn release(&mut self, ip: Ipv4Addr) {
        self.used.remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn reserved_and_sequential() {
        let mut a = ClusterIpAllocator::new("10.96.0.0/12".parse().unwrap());
        assert_eq!(
            a.allocate("default", "kubernetes", None).unwrap(),
            Ipv4Addr::new(10, 96, 0, 1)
        );
        assert_eq!(
            a.allocate("kube-system", "kube-dns", None).unwrap(),
            Ipv4Addr::new(10, 96, 0, 10)
        );
        let x = a.allocate("wrk-1", "svc", None).unwrap();
        assert!(x != Ipv4Addr::new(10, 96, 0, 1) && x != Ipv4Addr::new(10, 96, 0, 10));
        assert_eq!(a.allocate("a", "b", Some(x)), Err(AllocError::Taken(x)));
        assert!(matches!(
            a.allocate("a", "b", Some(Ipv4Addr::new(10, 200, 0, 1))),
            Err(AllocError::OutOfRange(..))
        ));
        a.release(x);
        assert_eq!(a.allocate("a", "b", Some(x)).unwrap(), x);
    }
}
