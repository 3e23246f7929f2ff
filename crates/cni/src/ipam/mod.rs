//! Address management for one network: round-robin allocation over the
//! configured ranges, never the network, broadcast or gateway address, with
//! host-local's on-disk state (see [`store`]).

pub mod store;

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use crate::config::{IpRange, NetConf};
use crate::spec::{code, CniError};
use store::Locked;
pub use store::Reservation;

pub struct Ipam {
    dir: PathBuf,
    ranges: Vec<IpRange>,
    gateway: Ipv4Addr,
}

fn io_err(what: &str, dir: &std::path::Path, e: std::io::Error) -> CniError {
    CniError::io(format!("{what} in {}: {e}", dir.display()))
}

impl Ipam {
    pub fn new(conf: &NetConf) -> Ipam {
        Ipam {
            dir: conf.ipam_dir(),
            ranges: conf.ranges.clone(),
            gateway: conf.gateway,
        }
    }

    fn lock(&self, create: bool) -> Result<Option<Locked>, CniError> {
        Locked::open(&self.dir, create).map_err(|e| io_err("locking the IPAM store", &self.dir, e))
    }

    fn reservations(&self, l: &Locked) -> Result<Vec<Reservation>, CniError> {
        l.reservations()
            .map_err(|e| io_err("reading reservations", &self.dir, e))
    }

    /// Every allocatable address, in pool order.
    fn pool(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.ranges
            .iter()
            .flat_map(|r| (u32::from(r.start)..=u32::from(r.end)).map(Ipv4Addr::from))
            .filter(move |ip| {
                *ip != self.gateway
                    && !self
                        .ranges
                        .iter()
                        .any(|r| *ip == r.subnet.network() || *ip == r.subnet.broadcast())
            })
    }

    /// Reserve the next free address after the last one handed out.
    pub fn allocate(&self, id: &str, ifname: &str) -> Result<Ipv4Addr, CniError> {
        let l = self.lock(true)?.expect("created");
        if let Some(ip) = l
            .held_by(id, ifname)
            .map_err(|e| io_err("reading reservations", &self.dir, e))?
        {
            return Err(CniError::new(
                code::DUPLICATE_ATTACHMENT,
                "attachment already has an address",
                format!("{ip} is reserved for container {id} interface {ifname}; DEL it first"),
            ));
        }
        let pool: Vec<Ipv4Addr> = self.pool().collect();
        let start = l
            .last_reserved()
            .and_then(|last| pool.iter().position(|ip| *ip == last))
            .map_or(0, |i| i + 1);
        for i in 0..pool.len() {
            let ip = pool[(start + i) % pool.len()];
            if l.reserve(ip, id, ifname)
                .map_err(|e| io_err(&format!("reserving {ip}"), &self.dir, e))?
            {
                l.set_last_reserved(ip)
                    .map_err(|e| io_err("recording the last reserved address", &self.dir, e))?;
                return Ok(ip);
            }
        }
        Err(CniError::new(
            code::ADDRESSES_EXHAUSTED,
            "no free addresses",
            format!("all {} addresses of {} are reserved", pool.len(), self.describe()),
        ))
    }

    /// Release what (id, ifname) holds; releasing nothing is fine.
    pub fn release(&self, id: &str, ifname: &str) -> Result<Vec<Ipv4Addr>, CniError> {
        let Some(l) = self.lock(false)? else {
            return Ok(Vec::new());
        };
        let mut freed = Vec::new();
        for r in self
            .reservations(&l)?
            .into_iter()
            .filter(|r| r.belongs_to(id, ifname))
        {
            l.remove(r.ip)
                .map_err(|e| io_err(&format!("releasing {}", r.ip), &self.dir, e))?;
            freed.push(r.ip);
        }
        Ok(freed)
    }

    /// Release exactly `ip` if (and only if) it still belongs to (id, ifname).
    pub fn release_ip(&self, ip: Ipv4Addr, id: &str, ifname: &str) -> Result<(), CniError> {
        let Some(l) = self.lock(false)? else { return Ok(()) };
        if self
            .reservations(&l)?
            .iter()
            .any(|r| r.ip == ip && r.belongs_to(id, ifname))
        {
            l.remove(ip)
                .map_err(|e| io_err(&format!("releasing {ip}"), &self.dir, e))?;
        }
        Ok(())
    }

    pub fn lookup(&self, id: &str, ifname: &str) -> Result<Vec<Ipv4Addr>, CniError> {
        let Some(l) = self.lock(false)? else {
            return Ok(Vec::new());
        };
        Ok(self
            .reservations(&l)?
            .into_iter()
            .filter(|r| r.belongs_to(id, ifname))
            .map(|r| r.ip)
            .collect())
    }

    /// Release every reservation whose attachment is not in `valid`; returns
    /// what was released.
    pub fn gc(&self, valid: &HashSet<(String, String)>) -> Result<Vec<Reservation>, CniError> {
        let Some(l) = self.lock(false)? else {
            return Ok(Vec::new());
        };
        let mut released = Vec::new();
        for r in self.reservations(&l)? {
            let keep = match &r.ifname {
                Some(ifname) => valid.contains(&(r.container_id.clone(), ifname.clone())),
                None => valid.iter().any(|(id, _)| *id == r.container_id),
            };
            if !keep {
                l.remove(r.ip)
                    .map_err(|e| io_err(&format!("releasing {}", r.ip), &self.dir, e))?;
                released.push(r);
            }
        }
        Ok(released)
    }

    /// How many addresses are still free.
    pub fn free(&self) -> Result<usize, CniError> {
        let l = self.lock(true)?.expect("created");
        let taken: HashSet<Ipv4Addr> = self.reservations(&l)?.into_iter().map(|r| r.ip).collect();
        Ok(self.pool().filter(|ip| !taken.contains(ip)).count())
    }

    fn describe(&self) -> String {
        self.ranges
            .iter()
            .map(|r| format!("{}-{}", r.start, r.end))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    struct TmpDir(PathBuf);
    impl TmpDir {
        fn new(tag: &str) -> TmpDir {
            let p = std::env::temp_dir().join(format!("lab-cni-ipam-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            TmpDir(p)
        }
    }
    impl Drop for TmpDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn ipam(dir: &TmpDir, cidr: &str) -> Ipam {
        let conf =
            NetConf::parse(&json!({"name": "net", "podCIDR": cidr, "ipam": {"dataDir": dir.0}})).unwrap();
        Ipam::new(&conf)
    }

    #[test]
    fn skips_network_gateway_and_broadcast_and_round_robins() {
        let d = TmpDir::new("rr");
        let ipam = ipam(&d, "10.9.0.0/29"); // .1 gateway, .2-.6 usable
        let got: Vec<Ipv4Addr> = (0..5)
            .map(|i| ipam.allocate(&format!("c{i}"), "eth0").unwrap())
            .collect();
        let want: Vec<Ipv4Addr> = (2..=6).map(|h| Ipv4Addr::new(10, 9, 0, h)).collect();
        assert_eq!(got, want);
        let e = ipam.allocate("c9", "eth0").unwrap_err();
        assert_eq!(e.code, code::ADDRESSES_EXHAUSTED);
        assert_eq!(ipam.free().unwrap(), 0);
        // Release .3; round-robin continues after .6 and wraps to .3.
        assert_eq!(
            ipam.release("c1", "eth0").unwrap(),
            vec![Ipv4Addr::new(10, 9, 0, 3)]
        );
        assert_eq!(ipam.allocate("c10", "eth0").unwrap(), Ipv4Addr::new(10, 9, 0, 3));
    }

    #[test]
    fn files_have_host_local_layout() {
        let d = TmpDir::new("layout");
        let ipam = ipam(&d, "10.9.1.0/24");
        let ip = ipam.allocate("abc123", "eth0").unwrap();
        let dir = d.0.join("net");
        assert_eq!(
            std::fs::read_to_string(dir.join(ip.to_string())).unwrap(),
            "abc123\r\neth0"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("last_reserved_ip.0")).unwrap(),
            ip.to_string()
        );
        assert!(dir.join("lock").exists());
        // A legacy file (id only) is released by id.
        std::fs::write(dir.join("10.9.1.77"), "old\n").unwrap();
        assert_eq!(
            ipam.lookup("old", "eth3").unwrap(),
            vec![Ipv4Addr::new(10, 9, 1, 77)]
        );
        assert_eq!(ipam.release("old", "eth3").unwrap().len(), 1);
    }

    #[test]
    fn duplicate_attachment_is_refused_and_release_is_idempotent() {
        let d = TmpDir::new("dup");
        let ipam = ipam(&d, "10.9.2.0/24");
        let ip = ipam.allocate("a", "eth0").unwrap();
        assert_eq!(
            ipam.allocate("a", "eth0").unwrap_err().code,
            code::DUPLICATE_ATTACHMENT
        );
        assert_ne!(ipam.allocate("a", "eth1").unwrap(), ip);
        assert_eq!(ipam.release("a", "eth0").unwrap(), vec![ip]);
        assert!(ipam.release("a", "eth0").unwrap().is_empty());
        assert!(ipam.release("never", "eth0").unwrap().is_empty());
        // release_ip leaves an address that someone else holds alone.
        let other = ipam.allocate("b", "eth0").unwrap();
        ipam.release_ip(other, "a", "eth0").unwrap();
        assert_eq!(ipam.lookup("b", "eth0").unwrap(), vec![other]);
    }

    #[test]
    fn gc_keeps_only_valid_attachments() {
        let d = TmpDir::new("gc");
        let ipam = ipam(&d, "10.9.3.0/24");
        for id in ["keep", "drop1", "drop2"] {
            ipam.allocate(id, "eth0").unwrap();
        }
        let valid: HashSet<(String, String)> = [("keep".to_string(), "eth0".to_string())].into();
        let released = ipam.gc(&valid).unwrap();
        assert_eq!(released.len(), 2);
        assert_eq!(ipam.lookup("keep", "eth0").unwrap().len(), 1);
        assert!(ipam.lookup("drop1", "eth0").unwrap().is_empty());
    }

    #[test]
    fn concurrent_allocations_never_collide() {
        let d = TmpDir::new("conc");
        let ipam = Arc::new(ipam(&d, "10.9.4.0/24"));
        let handles: Vec<_> = (0..40)
            .map(|i| {
                let ipam = ipam.clone();
                std::thread::spawn(move || ipam.allocate(&format!("c{i}"), "eth0").unwrap())
            })
            .collect();
        let ips: HashSet<Ipv4Addr> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(ips.len(), 40);
    }
}
