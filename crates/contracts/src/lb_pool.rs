//! The LoadBalancer address pool: the lab plays the cloud, handing Services
//! of type LoadBalancer addresses from a range of its VPC. The lab file's
//! `loadBalancerPool` and the controllers' `--load-balancer-pool` take this
//! type; its text form is `FIRST-LAST` (both included) or a CIDR (every
//! address of it), as MetalLB's address pools are written.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AddressPool {
    pub first: Ipv4Addr,
    pub last: Ipv4Addr,
}

impl AddressPool {
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        (self.first..=self.last).contains(&ip)
    }

    pub fn len(&self) -> u64 {
        u64::from(u32::from(self.last)) - u64::from(u32::from(self.first)) + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// Every address, lowest first.
    pub fn iter(&self) -> impl Iterator<Item = Ipv4Addr> {
        (u32::from(self.first)..=u32::from(self.last)).map(Ipv4Addr::from)
    }
}

impl FromStr for AddressPool {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let ip = |t: &str| {
            t.trim()
                .parse::<Ipv4Addr>()
                .map_err(|_| format!("{t:?} is not an IPv4 address (want FIRST-LAST or a CIDR, e.g. 10.168.0.240-10.168.0.254)"))
        };
        if let Some((a, b)) = s.split_once('-') {
            let (first, last) = (ip(a)?, ip(b)?);
            if first > last {
                return Err(format!("{s:?}: the first address is above the last"));
            }
            return Ok(Self { first, last });
        }
        if s.contains('/') {
            let net: ipnet::Ipv4Net = s.parse().map_err(|_| {
                format!("{s:?} is not a CIDR (want FIRST-LAST or a CIDR, e.g. 10.168.0.240/28)")
            })?;
            return Ok(Self {
                first: net.network(),
                last: net.broadcast(),
            });
        }
        let one = ip(s)?;
        Ok(Self {
            first: one,
            last: one,
        })
    }
}

impl fmt::Display for AddressPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

impl TryFrom<String> for AddressPool {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<AddressPool> for String {
    fn from(p: AddressPool) -> String {
        p.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn ranges_and_cidrs() {
        let p: AddressPool = "10.168.0.240-10.168.0.242".parse().unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p.to_string(), "10.168.0.240-10.168.0.242");
        assert!(p.contains("10.168.0.241".parse().unwrap()));
        let c: AddressPool = "10.168.0.240/30".parse().unwrap();
        assert_eq!(c.iter().last(), Some("10.168.0.243".parse().unwrap()));
        assert!("10.168.0.9-10.168.0.2".parse::<AddressPool>().is_err());
        assert!("ten".parse::<AddressPool>().unwrap_err().contains("\"ten\""));
    }
}
