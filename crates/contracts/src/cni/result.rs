//! The success result, kept version-neutral in memory and shaped per
//! `cniVersion` on output; results of any version from 0.3.0 on parse back
//! (`ips[].version` optional, `interface` optional, unknown keys ignored).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::mac::parse_mac;
use super::version::Version;

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Interface {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// The netns path of an interface inside the container. The spec says
    /// host interfaces leave it out or empty; both read as `None` here, so
    /// `None` is the one meaning of "on the host".
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_empty"
    )]
    pub sandbox: Option<String>,
}

impl Interface {
    /// Inside the container (it has a sandbox path), rather than on the host.
    pub fn in_container(&self) -> bool {
        self.sandbox.is_some()
    }

    /// The interface's MAC as bytes; the error names the interface.
    pub fn mac_bytes(&self) -> Result<[u8; 6], ResultError> {
        let text = self
            .mac
            .as_deref()
            .ok_or_else(|| ResultError::new(&format!("interface {}", self.name), "has no mac"))?;
        parse_mac(text).map_err(|e| ResultError::new(&format!("interface {}", self.name), &e))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpConfig {
    pub address: IpNet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    /// Index into `interfaces`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub dst: IpNet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<IpAddr>,
    /// rtnetlink scope (253 = link); only emitted from 1.1.0 on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<u8>,
}

/// The result's `dns`: what the runtime should put in the pod's
/// resolv.conf. Passed through from the network config.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Dns {
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "nullable")]
    pub nameservers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "nullable")]
    pub search: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "nullable")]
    pub options: Vec<String>,
}

impl Dns {
    pub fn is_empty(&self) -> bool {
        *self == Dns::default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CniResult {
    #[serde(default, deserialize_with = "nullable")]
    pub interfaces: Vec<Interface>,
    #[serde(default, deserialize_with = "nullable")]
    pub ips: Vec<IpConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "nullable")]
    pub routes: Vec<Route>,
    #[serde(default, deserialize_with = "nullable")]
    pub dns: Dns,
}

/// A result that does not parse, or lacks what a reader needs: `path` is
/// where (`ips[0].address`, `interfaces`), `message` what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultError {
    pub path: String,
    pub message: String,
}

impl ResultError {
    fn new(path: &str, message: &str) -> Self {
        ResultError {
            path: path.to_string(),
            message: message.to_string(),
        }
    }
}

impl fmt::Display for ResultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for ResultError {}

/// The result as it goes out: `ips[].version` for readers before 1.0.0.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Shaped<'a> {
    cni_version: String,
    interfaces: &'a [Interface],
    ips: Vec<ShapedIp<'a>>,
    #[serde(skip_serializing_if = "<[Route]>::is_empty")]
    routes: &'a [Route],
    dns: &'a Dns,
}

#[derive(Serialize)]
struct ShapedIp<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'static str>,
    #[serde(flatten)]
    ip: &'a IpConfig,
}

impl CniResult {
    /// The result JSON as a runtime speaking `version` expects it.
    pub fn to_json(&self, version: Version) -> Value {
        let mut own = self.clone();
        if !version.has_mtu_and_scope() {
            own.interfaces.iter_mut().for_each(|i| i.mtu = None);
            // A scoped route without a gateway only means something from
            // 1.1.0 on; older readers would take it as "via ips[].gateway".
            own.routes.retain(|r| r.scope.is_none());
        }
        let ips = own
            .ips
            .iter()
            .map(|ip| ShapedIp {
                version: version
                    .ips_carry_version()
                    .then_some(if ip.address.addr().is_ipv4() { "4" } else { "6" }),
                ip,
            })
            .collect();
        let shaped = Shaped {
            cni_version: version.to_string(),
            interfaces: &own.interfaces,
            ips,
            routes: &own.routes,
            dns: &own.dns,
        };
        serde_json::to_value(shaped).expect("a CNI result always serializes")
    }

    /// Parse a result of any version from 0.3.0 on. Every error names the
    /// field (`ips[0].address`), and an `interface` index must point into
    /// `interfaces`.
    pub fn from_json(v: &Value) -> Result<CniResult, ResultError> {
        let res: CniResult = serde_path_to_error::deserialize(v).map_err(|e| {
            let path = e.path().to_string();
            ResultError::new(
                if path == "." { "result" } else { &path },
                &e.into_inner().to_string(),
            )
        })?;
        for (i, ip) in res.ips.iter().enumerate() {
            if let Some(idx) = ip.interface {
                if idx >= res.interfaces.len() {
                    return Err(ResultError::new(
                        &format!("ips[{i}].interface"),
                        &format!("{idx} is out of range ({} interfaces)", res.interfaces.len()),
                    ));
                }
            }
        }
        Ok(res)
    }

    /// Parse a result from the text a plugin printed.
    pub fn from_text(text: &str) -> Result<CniResult, ResultError> {
        let v: Value = serde_json::from_str(text).map_err(|e| ResultError::new("result", &e.to_string()))?;
        Self::from_json(&v)
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
        if prev.dns.is_empty() {
            out.dns = self.dns;
        }
        out
    }

    /// The pod's first IPv4 address with its prefix (`10.0.1.5/32`).
    pub fn pod_ipv4(&self) -> Option<Ipv4Net> {
        self.ips.iter().find_map(|ip| match ip.address {
            IpNet::V4(a) => Some(a),
            IpNet::V6(_) => None,
        })
    }

    /// The gateway of the pod's first IPv4 address.
    pub fn ipv4_gateway(&self) -> Option<Ipv4Addr> {
        self.ips.iter().find_map(|ip| match (ip.address, ip.gateway) {
            (IpNet::V4(_), Some(IpAddr::V4(gw))) => Some(gw),
            _ => None,
        })
    }

    /// The host side of the pod's link (the first interface outside any
    /// sandbox: our `lxc…` veth).
    pub fn host_interface(&self) -> Option<&Interface> {
        self.interfaces.iter().find(|i| !i.in_container())
    }

    /// The pod's own interface (the first inside a sandbox: `eth0`).
    pub fn container_interface(&self) -> Option<&Interface> {
        self.interfaces.iter().find(|i| i.in_container())
    }

    /// Both ends of the pod's link and the pod's IPv4 address, as the eBPF
    /// datapath needs them; the error names what is missing.
    pub fn pod_link(&self) -> Result<PodLink, ResultError> {
        let ip = self
            .pod_ipv4()
            .ok_or_else(|| ResultError::new("ips", "no IPv4 address"))?;
        let host = self
            .host_interface()
            .ok_or_else(|| ResultError::new("interfaces", "no host-side interface"))?;
        let pod = self
            .container_interface()
            .ok_or_else(|| ResultError::new("interfaces", "no interface inside the pod"))?;
        Ok(PodLink {
            ip,
            host_ifname: host.name.clone(),
            host_mac: host.mac.as_deref().map(parse_mac).transpose().ok().flatten(),
            pod_ifname: pod.name.clone(),
            pod_mac: pod.mac_bytes()?,
        })
    }
}

/// The pod's link as a result describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodLink {
    pub ip: Ipv4Net,
    pub host_ifname: String,
    /// Reference plugins may leave it out.
    pub host_mac: Option<[u8; 6]>,
    pub pod_ifname: String,
    pub pod_mac: [u8; 6],
}

/// `""` reads as absent (see `Interface::sandbox`).
fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.is_empty()))
}

/// `null` reads as the empty value, as absent does.
fn nullable<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
            dns: Dns::default(),
        }
    }

    #[test]
    fn old_versions_carry_ip_version_and_drop_scoped_routes() {
        let v = sample().to_json(Version(0, 4, 0));
        assert_eq!(v["cniVersion"], "0.4.0");
        assert_eq!(v["ips"][0]["version"], "4");
        assert_eq!(v["ips"][0]["address"], "10.0.1.5/32");
        assert_eq!(v["routes"].as_array().unwrap().len(), 1);
        assert!(v["interfaces"][0].get("mtu").is_none());
        assert_eq!(v["dns"], json!({}));
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
    fn no_routes_means_no_routes_key() {
        let r = CniResult {
            routes: vec![],
            ..sample()
        };
        assert!(r.to_json(Version(1, 1, 0)).get("routes").is_none());
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
        assert_eq!(
            CniResult::from_json(&sample().to_json(Version(1, 1, 0))).unwrap(),
            sample()
        );
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
            dns: Dns {
                nameservers: vec!["10.96.0.10".into()],
                ..Default::default()
            },
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
        assert_eq!(out.dns.nameservers, ["10.96.0.10"]);
        assert_eq!(out.routes.len(), 2);
    }

    #[test]
    fn bad_results_are_errors_naming_the_field() {
        let e = CniResult::from_json(&json!({"ips": [{"address": "nope"}]})).unwrap_err();
        assert_eq!(e.path, "ips[0].address", "{e}");
        let e =
            CniResult::from_json(&json!({"ips": [{"address": "10.0.0.1/32", "interface": 3}]})).unwrap_err();
        assert_eq!(e.path, "ips[0].interface");
        assert!(e.message.contains("out of range"), "{e}");
        let e = CniResult::from_json(&json!({"interfaces": [{"mac": "x"}]})).unwrap_err();
        assert!(e.to_string().starts_with("interfaces[0]"), "{e}");
        assert!(e.to_string().contains("name"), "{e}");
        let e = CniResult::from_json(&json!({"routes": 7})).unwrap_err();
        assert_eq!(e.path, "routes");
        let e = CniResult::from_json(&json!("nope")).unwrap_err();
        assert_eq!(e.path, "result");
        let e = CniResult::from_text("{").unwrap_err();
        assert_eq!(e.path, "result");
    }

    #[test]
    fn nulls_and_absent_lists_read_as_empty() {
        let r = CniResult::from_json(&json!({"interfaces": null, "routes": null, "dns": null})).unwrap();
        assert_eq!(r, CniResult::default());
        assert_eq!(CniResult::from_json(&json!({})).unwrap(), CniResult::default());
    }

    #[test]
    fn an_empty_sandbox_is_on_the_host() {
        let r = CniResult::from_json(&json!({"interfaces": [
            {"name": "eth0", "mac": "0a:58:0a:00:01:05", "sandbox": "/run/netns/cni-x"},
            {"name": "lxc1", "sandbox": ""}
        ]}))
        .unwrap();
        assert_eq!(r.interfaces[1].sandbox, None);
        assert_eq!(r.host_interface().unwrap().name, "lxc1");
        assert_eq!(r.container_interface().unwrap().name, "eth0");
        // Written back, the empty path is left out, as the spec's host
        // interfaces are.
        assert!(r.to_json(Version::V1_1_0)["interfaces"][1]
            .get("sandbox")
            .is_none());
    }

    #[test]
    fn the_pod_link_of_our_result() {
        let r = sample();
        assert_eq!(r.pod_ipv4(), Some("10.0.1.5/32".parse().unwrap()));
        assert_eq!(r.ipv4_gateway(), Some(Ipv4Addr::new(10, 0, 1, 1)));
        let link = r.pod_link().unwrap();
        assert_eq!(link.host_ifname, "lxc0123456789a");
        assert_eq!(link.pod_ifname, "eth0");
        assert_eq!(link.pod_mac, [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x02]);
        assert_eq!(link.host_mac, Some([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x01]));
    }

    #[test]
    fn a_pod_link_names_what_is_missing() {
        let e = CniResult::default().pod_link().unwrap_err();
        assert_eq!(e.path, "ips");
        let mut r = sample();
        r.interfaces.remove(0);
        assert!(r.pod_link().unwrap_err().message.contains("host-side"));
        let mut r = sample();
        r.interfaces[1].mac = Some("zz:00:00:00:00:00".into());
        let e = r.pod_link().unwrap_err().to_string();
        assert!(e.contains("eth0") && e.contains("zz"), "{e}");
        let mut r = sample();
        r.ips[0].address = "fd00::5/128".parse().unwrap();
        assert_eq!(r.pod_ipv4(), None);
        assert_eq!(r.ipv4_gateway(), None);
    }
}
