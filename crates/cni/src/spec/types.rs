//! The success result, kept version-neutral in memory and shaped per
//! `cniVersion` on output; prevResults of any supported version parse back.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::{json, Map, Value};

use super::error::CniError;
use super::version::Version;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Interface {
    pub name: String,
    pub mac: Option<String>,
    pub mtu: Option<u32>,
    /// The netns path for interfaces inside the container; None on the host.
    pub sandbox: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpConfig {
    pub address: IpNet,
    pub gateway: Option<IpAddr>,
    /// Index into `interfaces`.
    pub interface: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub dst: IpNet,
    pub gw: Option<IpAddr>,
    /// rtnetlink scope (253 = link); only emitted from 1.1.0 on.
    pub scope: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct CniResult {
    pub interfaces: Vec<Interface>,
    pub ips: Vec<IpConfig>,
    pub routes: Vec<Route>,
    /// Passed through untouched (nameservers, domain, search, options).
    pub dns: Value,
}

impl CniResult {
    /// The result JSON as a runtime speaking `version` expects it.
    pub fn to_json(&self, version: Version) -> Value {
        let interfaces: Vec<Value> = self
            .interfaces
            .iter()
            .map(|i| {
                let mut o = Map::new();
                o.insert("name".into(), json!(i.name));
                if let Some(mac) = &i.mac {
                    o.insert("mac".into(), json!(mac));
                }
                if let (Some(mtu), true) = (i.mtu, version.has_mtu_and_scope()) {
                    o.insert("mtu".into(), json!(mtu));
                }
                if let Some(sb) = &i.sandbox {
                    o.insert("sandbox".into(), json!(sb));
                }
                Value::Object(o)
            })
            .collect();
        let ips: Vec<Value> = self
            .ips
            .iter()
            .map(|ip| {
                let mut o = Map::new();
                if version.ips_carry_version() {
                    let v = if ip.address.addr().is_ipv4() { "4" } else { "6" };
                    o.insert("version".into(), json!(v));
                }
                if let Some(i) = ip.interface {
                    o.insert("interface".into(), json!(i));
                }
                o.insert("address".into(), json!(ip.address.to_string()));
                if let Some(gw) = ip.gateway {
                    o.insert("gateway".into(), json!(gw.to_string()));
                }
                Value::Object(o)
            })
            .collect();
        // A scoped route without a gateway only means something from 1.1.0
        // on; older readers would take it as "via ips[].gateway".
        let routes: Vec<Value> = self
            .routes
            .iter()
            .filter(|r| version.has_mtu_and_scope() || r.scope.is_none())
            .map(|r| {
                let mut o = Map::new();
                o.insert("dst".into(), json!(r.dst.to_string()));
                if let Some(gw) = r.gw {
                    o.insert("gw".into(), json!(gw.to_string()));
                }
                if let Some(scope) = r.scope {
                    o.insert("scope".into(), json!(scope));
                }
                Value::Object(o)
            })
            .collect();
        let mut out = json!({
            "cniVersion": version.to_string(),
            "interfaces": interfaces,
            "ips": ips,
        });
        if !routes.is_empty() {
            out["routes"] = Value::Array(routes);
        }
        out["dns"] = if self.dns.is_object() {
            self.dns.clone()
        } else {
            json!({})
        };
        out
    }

    /// This result appended to the `prevResult` an earlier plugin in the
    /// chain produced (spec: pass it through, adding what we made).
    pub fn chained_onto(self, prev: &CniResult) -> CniResult {
        let offset = prev.interfaces.len();
        let mut out = prev.clone();
        out.interfaces.extend(self.interfaces);
        out.ips.extend(self.ips.into_iter().map(|ip| IpConfig {
            interface: ip.interface.map(|i| i + offset),
            ..ip
        }));
        out.routes.extend(self.routes);
        let prev_dns_empty = prev.dns.as_object().is_none_or(|o| o.is_empty());
        if prev_dns_empty {
            out.dns = self.dns;
        }
        out
    }

    /// Parse a prevResult of any version from 0.3.0 on (`ips[].version`
    /// optional, `interface` optional, unknown keys ignored).
    pub fn from_json(v: &Value) -> Result<CniResult, CniError> {
        let bad = |what: &str| CniError::decode(format!("prevResult: {what}"));
        let obj = v.as_object().ok_or_else(|| bad("not a JSON object"))?;
        let mut res = CniResult {
            dns: obj.get("dns").cloned().unwrap_or(json!({})),
            ..Default::default()
        };
        for (i, iface) in array(obj.get("interfaces"))
            .map_err(|_| bad("interfaces is not a list"))?
            .iter()
            .enumerate()
        {
            let name = iface
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(&format!("interfaces[{i}].name missing")))?;
            res.interfaces.push(Interface {
                name: name.to_string(),
                mac: opt_str(iface, "mac"),
                mtu: iface.get("mtu").and_then(Value::as_u64).map(|m| m as u32),
                sandbox: opt_str(iface, "sandbox").filter(|s| !s.is_empty()),
            });
        }
        for (i, ip) in array(obj.get("ips"))
            .map_err(|_| bad("ips is not a list"))?
            .iter()
            .enumerate()
        {
            let address = ip
                .get("address")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(&format!("ips[{i}].address missing")))?;
            let address: IpNet = address
                .parse()
                .map_err(|_| bad(&format!("ips[{i}].address {address:?} is not a CIDR")))?;
            let gateway = match opt_str(ip, "gateway") {
                Some(g) => Some(
                    g.parse()
                        .map_err(|_| bad(&format!("ips[{i}].gateway {g:?} is not an IP")))?,
                ),
                None => None,
            };
            let interface = ip.get("interface").and_then(Value::as_u64).map(|x| x as usize);
            if let Some(idx) = interface {
                if idx >= res.interfaces.len() {
                    return Err(bad(&format!("ips[{i}].interface {idx} is out of range")));
                }
            }
            res.ips.push(IpConfig {
                address,
                gateway,
                interface,
            });
        }
        for (i, r) in array(obj.get("routes"))
            .map_err(|_| bad("routes is not a list"))?
            .iter()
            .enumerate()
        {
            let dst = r
                .get("dst")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(&format!("routes[{i}].dst missing")))?;
            let dst: IpNet = dst
                .parse()
                .map_err(|_| bad(&format!("routes[{i}].dst {dst:?} is not a CIDR")))?;
            let gw = match opt_str(r, "gw") {
                Some(g) => Some(
                    g.parse()
                        .map_err(|_| bad(&format!("routes[{i}].gw {g:?} is not an IP")))?,
                ),
                None => None,
            };
            let scope = r.get("scope").and_then(Value::as_u64).map(|s| s as u8);
            res.routes.push(Route { dst, gw, scope });
        }
        Ok(res)
    }
}

fn array(v: Option<&Value>) -> Result<Vec<Value>, ()> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => Ok(a.clone()),
        Some(_) => Err(()),
    }
}

fn opt_str(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CniResult {
        CniResult {
            interfaces: vec![
                Interface {
                    name: "lxc0123456789a".into(),
                    mac: Some("aa:bb:cc:dd:ee:01".into()),
                    mtu: Some(1410),
                    sandbox: None,
                },
                Interface {
                    name: "eth0".into(),
                    mac: Some("aa:bb:cc:dd:ee:02".into()),
                    mtu: Some(1410),
                    sandbox: Some("/proc/1/ns/net".into()),
                },
            ],
            ips: vec![IpConfig {
                address: "10.0.1.5/32".parse().unwrap(),
                gateway: Some("10.0.1.1".parse().unwrap()),
                interface: Some(1),
            }],
            routes: vec![
                Route {
                    dst: "10.0.1.1/32".parse().unwrap(),
                    gw: None,
                    scope: Some(253),
                },
                Route {
                    dst: "0.0.0.0/0".parse().unwrap(),
                    gw: Some("10.0.1.1".parse().unwrap()),
                    scope: None,
                },
            ],
            dns: json!({}),
        }
    }

    #[test]
    fn old_versions_carry_ip_version_and_drop_scoped_routes() {
        let v = sample().to_json(Version(0, 4, 0));
        assert_eq!(v["cniVersion"], "0.4.0");
        assert_eq!(v["ips"][0]["version"], "4");
        assert_eq!(v["routes"].as_array().unwrap().len(), 1);
        assert!(v["interfaces"][0].get("mtu").is_none());
    }

    #[test]
    fn v1_drops_ip_version_and_v11_adds_mtu_and_scope() {
        let v = sample().to_json(Version(1, 0, 0));
        assert!(v["ips"][0].get("version").is_none());
        assert!(v["interfaces"][1].get("mtu").is_none());
        let v = sample().to_json(Version(1, 1, 0));
        assert_eq!(v["interfaces"][1]["mtu"], 1410);
        assert_eq!(v["routes"][0]["scope"], 253);
        assert!(v["interfaces"][0].get("sandbox").is_none());
    }

    #[test]
    fn round_trips_through_every_shape() {
        for ver in [
            Version(0, 3, 0),
            Version(0, 4, 0),
            Version(1, 0, 0),
            Version(1, 1, 0),
        ] {
            let back = CniResult::from_json(&sample().to_json(ver)).unwrap();
            assert_eq!(back.ips, sample().ips);
            assert_eq!(back.interfaces.len(), 2);
        }
    }

    #[test]
    fn chaining_keeps_the_previous_result_and_shifts_indexes() {
        let prev = CniResult {
            interfaces: vec![Interface {
                name: "cni0".into(),
                ..Default::default()
            }],
            ips: vec![IpConfig {
                address: "192.168.0.2/24".parse().unwrap(),
                gateway: None,
                interface: Some(0),
            }],
            routes: vec![],
            dns: json!({"nameservers": ["10.96.0.10"]}),
        };
        let out = sample().chained_onto(&prev);
        assert_eq!(out.interfaces.len(), 3);
        assert_eq!(out.interfaces[0].name, "cni0");
        assert_eq!(out.ips[0].interface, Some(0));
        assert_eq!(
            out.ips[1].interface,
            Some(2),
            "our pod interface moved behind the previous ones"
        );
        assert_eq!(out.dns["nameservers"][0], "10.96.0.10");
        assert_eq!(out.routes.len(), 2);
    }

    #[test]
    fn bad_prev_results_are_decode_errors_naming_the_field() {
        let e = CniResult::from_json(&json!({"ips": [{"address": "nope"}]})).unwrap_err();
        assert_eq!(e.code, 6);
        assert!(e.details.contains("ips[0].address"));
        let e =
            CniResult::from_json(&json!({"ips": [{"address": "10.0.0.1/32", "interface": 3}]})).unwrap_err();
        assert!(e.details.contains("out of range"));
    }
}
