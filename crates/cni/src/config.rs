//! Our plugin's network config (type "labyrinth-cni"), validated field by
//! field so every error names the JSON path it is about.
//!
//! ```json
//! { "cniVersion": "1.1.0", "name": "labyrinth", "type": "labyrinth-cni",
//!   "mtu": 1410, "gateway": "10.0.1.1", "podCIDR": "10.0.1.0/24",
//!   "ipam": { "type": "host-local", "dataDir": "/var/lib/cni/networks" } }
//! ```
//! Instead of `podCIDR`, `ipam.subnet` or host-local's `ipam.ranges`
//! (one range set, IPv4) may give the pool; `ipam.routes` replaces the
//! default route list (`0.0.0.0/0` via the gateway).

use std::net::Ipv4Addr;
use std::path::PathBuf;

use ipnet::{IpNet, Ipv4Net};
use serde::Deserialize;
use serde_json::Value;

use crate::spec::{CniError, Dns};

pub const DEFAULT_DATA_DIR: &str = "/var/lib/cni/networks";
pub const DEFAULT_MTU: u32 = 1500;

/// One contiguous pool of addresses inside a subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpRange {
    pub subnet: Ipv4Net,
    pub start: Ipv4Addr,
    pub end: Ipv4Addr,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NetConf {
    pub name: String,
    pub mtu: u32,
    pub gateway: Ipv4Addr,
    pub ranges: Vec<IpRange>,
    pub data_dir: PathBuf,
    /// Destinations routed via the gateway inside the pod.
    pub routes: Vec<Ipv4Net>,
    /// Passed through to the result.
    pub dns: Dns,
}

fn field<'a>(obj: &'a Value, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn string<'a>(obj: &'a Value, key: &str, path: &str) -> Result<Option<&'a str>, CniError> {
    match field(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(CniError::invalid_config(path, format!("{other} is not a string"))),
    }
}

fn ipv4(obj: &Value, key: &str, path: &str) -> Result<Option<Ipv4Addr>, CniError> {
    let Some(s) = string(obj, key, path)? else {
        return Ok(None);
    };
    match s.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(a)) => Ok(Some(a)),
        Ok(std::net::IpAddr::V6(_)) => Err(CniError::unsupported_field(
            path,
            &Value::String(s.into()),
            "IPv6 is not supported",
        )),
        Err(_) => Err(CniError::invalid_config(
            path,
            format!("{s:?} is not an IP address"),
        )),
    }
}

fn subnet(obj: &Value, key: &str, path: &str) -> Result<Option<Ipv4Net>, CniError> {
    let Some(s) = string(obj, key, path)? else {
        return Ok(None);
    };
    let net: IpNet = s
        .parse()
        .map_err(|_| CniError::invalid_config(path, format!("{s:?} is not a CIDR")))?;
    let IpNet::V4(net) = net else {
        return Err(CniError::unsupported_field(
            path,
            &Value::String(s.into()),
            "IPv6 pools are not supported",
        ));
    };
    if net.trunc() != net {
        return Err(CniError::invalid_config(
            path,
            format!("{s:?} has host bits set (network is {})", net.trunc()),
        ));
    }
    if net.prefix_len() > 30 {
        return Err(CniError::invalid_config(
            path,
            format!("{s:?} is too small to allocate from (need /30 or larger)"),
        ));
    }
    Ok(Some(net))
}

impl NetConf {
    pub fn parse(raw: &Value) -> Result<NetConf, CniError> {
        let name = string(raw, "name", "name")?.unwrap_or_default().to_string();
        let mtu = match field(raw, "mtu") {
            None => DEFAULT_MTU,
            Some(v) => match v.as_u64() {
                Some(m) if (68..=65535).contains(&m) => m as u32,
                _ => {
                    return Err(CniError::invalid_config(
                        "mtu",
                        format!("{v} is not an MTU between 68 and 65535"),
                    ))
                }
            },
        };
        let ipam = field(raw, "ipam")
            .cloned()
            .unwrap_or(Value::Object(Default::default()));
        if !ipam.is_object() {
            return Err(CniError::invalid_config(
                "ipam",
                format!("{ipam} is not an object"),
            ));
        }
        if let Some(t) = string(&ipam, "type", "ipam.type")? {
            if !matches!(t, "host-local" | "labyrinth-cni" | "labyrinth") {
                return Err(CniError::unsupported_field(
                    "ipam.type",
                    &Value::String(t.into()),
                    "only the built-in host-local-compatible IPAM is available",
                ));
            }
        }
        let data_dir = PathBuf::from(string(&ipam, "dataDir", "ipam.dataDir")?.unwrap_or(DEFAULT_DATA_DIR));
        if !data_dir.is_absolute() {
            return Err(CniError::invalid_config(
                "ipam.dataDir",
                format!("{} is not an absolute path", data_dir.display()),
            ));
        }

        let pod_cidr = subnet(raw, "podCIDR", "podCIDR")?;
        let ipam_subnet = subnet(&ipam, "subnet", "ipam.subnet")?;
        let range_sets = field(&ipam, "ranges");
        let sources = [pod_cidr.is_some(), ipam_subnet.is_some(), range_sets.is_some()];
        if sources.iter().filter(|s| **s).count() != 1 {
            return Err(CniError::invalid_config(
                "podCIDR",
                "give exactly one address pool: podCIDR, ipam.subnet or ipam.ranges",
            ));
        }
        let mut range_gateway = None;
        let ranges = match range_sets {
            None => {
                let net = pod_cidr.or(ipam_subnet).expect("one source is set");
                vec![IpRange {
                    subnet: net,
                    start: first_host(net),
                    end: last_host(net),
                }]
            }
            Some(sets) => parse_range_sets(sets, &mut range_gateway)?,
        };

        let gateway = match (
            ipv4(raw, "gateway", "gateway")?,
            range_gateway,
            ipv4(&ipam, "gateway", "ipam.gateway")?,
        ) {
            (Some(g), _, _) | (None, Some(g), _) | (None, None, Some(g)) => g,
            (None, None, None) => first_host(ranges[0].subnet),
        };
        for r in &ranges {
            if r.subnet.contains(&gateway)
                && (gateway == r.subnet.network() || gateway == r.subnet.broadcast())
            {
                return Err(CniError::invalid_config(
                    "gateway",
                    format!("{gateway} is the network or broadcast address of {}", r.subnet),
                ));
            }
        }

        let routes = match field(&ipam, "routes") {
            None => vec![Ipv4Net::default()],
            Some(Value::Array(list)) => list
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let path = format!("ipam.routes[{i}].dst");
                    let dst =
                        string(r, "dst", &path)?.ok_or_else(|| CniError::invalid_config(&path, "missing"))?;
                    let dst: IpNet = dst
                        .parse()
                        .map_err(|_| CniError::invalid_config(&path, format!("{dst:?} is not a CIDR")))?;
                    let IpNet::V4(dst) = dst else {
                        return Err(CniError::unsupported_field(
                            &path,
                            &Value::String(dst.to_string()),
                            "IPv6 routes",
                        ));
                    };
                    let gw_path = format!("ipam.routes[{i}].gw");
                    if let Some(gw) = ipv4(r, "gw", &gw_path)? {
                        if gw != gateway {
                            return Err(CniError::unsupported_field(
                                &gw_path,
                                &Value::String(gw.to_string()),
                                &format!("pod routes always go via the gateway {gateway}"),
                            ));
                        }
                    }
                    Ok(dst.trunc())
                })
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(CniError::invalid_config(
                    "ipam.routes",
                    format!("{other} is not a list"),
                ))
            }
        };
        let dns = match field(raw, "dns") {
            None => Dns::default(),
            Some(v) => Dns::deserialize(v).map_err(|e| CniError::invalid_config("dns", e.to_string()))?,
        };
        Ok(NetConf {
            name,
            mtu,
            gateway,
            ranges,
            data_dir,
            routes,
            dns,
        })
    }

    /// The IPAM directory of this network (host-local's layout).
    pub fn ipam_dir(&self) -> PathBuf {
        self.data_dir.join(&self.name)
    }
}

fn parse_range_sets(sets: &Value, gateway: &mut Option<Ipv4Addr>) -> Result<Vec<IpRange>, CniError> {
    let Value::Array(sets) = sets else {
        return Err(CniError::invalid_config(
            "ipam.ranges",
            format!("{sets} is not a list of range sets"),
        ));
    };
    if sets.len() != 1 {
        return Err(CniError::unsupported_field(
            "ipam.ranges",
            &Value::Array(sets.clone()),
            "exactly one (IPv4) range set is supported",
        ));
    }
    let Value::Array(set) = &sets[0] else {
        return Err(CniError::invalid_config(
            "ipam.ranges[0]",
            "is not a list of ranges",
        ));
    };
    if set.is_empty() {
        return Err(CniError::invalid_config("ipam.ranges[0]", "is empty"));
    }
    let mut out: Vec<IpRange> = Vec::new();
    for (i, r) in set.iter().enumerate() {
        let p = |k: &str| format!("ipam.ranges[0][{i}].{k}");
        let net = subnet(r, "subnet", &p("subnet"))?
            .ok_or_else(|| CniError::invalid_config(&p("subnet"), "missing"))?;
        let start = ipv4(r, "rangeStart", &p("rangeStart"))?.unwrap_or(first_host(net));
        let end = ipv4(r, "rangeEnd", &p("rangeEnd"))?.unwrap_or(last_host(net));
        for (k, a) in [("rangeStart", start), ("rangeEnd", end)] {
            if !net.contains(&a) || a == net.network() || a == net.broadcast() {
                return Err(CniError::invalid_config(
                    &p(k),
                    format!("{a} is not a host address of {net}"),
                ));
            }
        }
        if start > end {
            return Err(CniError::invalid_config(
                &p("rangeStart"),
                format!("{start} is after rangeEnd {end}"),
            ));
        }
        if let Some(g) = ipv4(r, "gateway", &p("gateway"))? {
            gateway.get_or_insert(g);
        }
        if let Some(o) = out.iter().find(|o| o.start <= end && start <= o.end) {
            return Err(CniError::invalid_config(
                &p("subnet"),
                format!("{start}-{end} overlaps {}-{}", o.start, o.end),
            ));
        }
        out.push(IpRange {
            subnet: net,
            start,
            end,
        });
    }
    Ok(out)
}

fn first_host(net: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()) + 1)
}

fn last_host(net: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.broadcast()) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<NetConf, CniError> {
        NetConf::parse(&v)
    }

    #[test]
    fn pod_cidr_with_defaults() {
        let c = parse(json!({"name": "n", "podCIDR": "10.0.1.0/24", "mtu": 1410})).unwrap();
        assert_eq!(c.mtu, 1410);
        assert_eq!(c.gateway, "10.0.1.1".parse::<Ipv4Addr>().unwrap());
        assert_eq!(c.ranges[0].start, "10.0.1.1".parse::<Ipv4Addr>().unwrap());
        assert_eq!(c.ranges[0].end, "10.0.1.254".parse::<Ipv4Addr>().unwrap());
        assert_eq!(c.routes, vec![Ipv4Net::default()]);
        assert_eq!(c.ipam_dir(), PathBuf::from("/var/lib/cni/networks/n"));
    }

    #[test]
    fn host_local_ranges_and_explicit_gateway() {
        let c = parse(
            json!({"name": "n", "gateway": "10.0.1.1", "ipam": {"type": "host-local", "dataDir": "/tmp/x",
            "ranges": [[{"subnet": "10.0.1.0/24", "rangeStart": "10.0.1.10", "rangeEnd": "10.0.1.20"}]],
            "routes": [{"dst": "0.0.0.0/0"}, {"dst": "10.96.0.0/12", "gw": "10.0.1.1"}]}}),
        )
        .unwrap();
        assert_eq!(c.ranges[0].start, "10.0.1.10".parse::<Ipv4Addr>().unwrap());
        assert_eq!(c.routes.len(), 2);
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
    }

    #[test]
    fn errors_name_the_field_and_use_the_right_code() {
        let err = |v: Value| parse(v).unwrap_err();
        let e = err(json!({"name": "n", "podCIDR": "10.0.1.0/33"}));
        assert_eq!((e.code, e.msg.contains("podCIDR")), (7, true));
        let e = err(json!({"name": "n", "podCIDR": "10.0.1.5/24"}));
        assert!(e.details.contains("host bits"));
        let e = err(json!({"name": "n", "podCIDR": "10.0.1.0/24", "mtu": 10}));
        assert_eq!((e.code, e.msg.contains("mtu")), (7, true));
        let e = err(json!({"name": "n", "podCIDR": "fd00::/64"}));
        assert_eq!(e.code, 2);
        assert!(e.details.contains("podCIDR") && e.details.contains("fd00::/64"));
        let e = err(json!({"name": "n", "podCIDR": "10.0.1.0/24", "ipam": {"type": "dhcp"}}));
        assert_eq!(e.code, 2);
        assert!(e.details.contains("dhcp"));
        let e = err(json!({"name": "n"}));
        assert_eq!(e.code, 7);
        let e = err(json!({"name": "n", "podCIDR": "10.0.1.0/24", "ipam": {"subnet": "10.0.2.0/24"}}));
        assert_eq!(e.code, 7);
        let e = err(json!({"name": "n", "podCIDR": "10.0.1.0/24", "gateway": "10.0.1.255"}));
        assert!(e.msg.contains("gateway"));
        let e = err(json!({"name": "n", "podCIDR": "10.0.1.0/24", "ipam": {"dataDir": "rel"}}));
        assert!(e.msg.contains("ipam.dataDir"));
        let e = err(
            json!({"name": "n", "ipam": {"ranges": [[{"subnet": "10.0.1.0/24", "rangeStart": "10.0.2.1"}]]}}),
        );
        assert!(e.msg.contains("ipam.ranges[0][0].rangeStart"), "{e:?}");
        let e = err(
            json!({"name": "n", "ipam": {"ranges": [[{"subnet": "10.0.1.0/24"}], [{"subnet": "10.0.2.0/24"}]]}}),
        );
        assert_eq!(e.code, 2);
    }
}
