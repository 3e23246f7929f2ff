//! The control plane as kubeadm lays it out: one static Pod manifest per
//! component in node-0's /etc/kubernetes/manifests, run by node-0's agent
//! in its kubelet role (`labyrinth agent --pod-manifest-path`) before any
//! API server exists, and started again with the kubelet's back-off when
//! it exits. Each is a `labyrinth <role>` (etcd: Debian's etcd) on the
//! node's network, with the node folders it keeps state in as hostPath
//! volumes, labelled and prioritised as kubeadm's.

use serde_json::{json, Value};

/// kubeadm's staticPodPath, inside node-0.
pub const MANIFEST_DIR: &str = "/etc/kubernetes/manifests";

/// The controllers kube-controller-manager runs: all of `labyrinth
/// controllers` but the scheduler, which is kube-scheduler's pod (the
/// names of `labyrinth controllers --controllers`).
pub const CONTROLLER_MANAGER: &str = "deployment,replicaset,endpointslice,endpoints,nodeipam,nodelifecycle,\
serviceaccount,root-ca-cert-publisher,daemonset,job,gc,loadbalancer";

/// One control-plane component as a static pod.
#[derive(Debug, Clone)]
pub struct Component {
    /// kube-apiserver, etcd, …: the pod's and its container's name.
    pub name: &'static str,
    pub image: &'static str,
    pub command: Vec<String>,
    /// Node folders or files it keeps or reads state in: (path, hostPath type).
    pub host_paths: Vec<(&'static str, &'static str)>,
    /// Capabilities it needs beyond the runtime's default set.
    pub capabilities: &'static [&'static str],
}

impl Component {
    /// The manifest's file name in [`MANIFEST_DIR`].
    pub fn file(&self) -> String {
        format!("{}.yaml", self.name)
    }

    /// The Pod, as kubeadm writes it (YAML is written from this).
    pub fn pod(&self) -> Value {
        let volume = |i: usize| format!("host-{i}");
        let mounts: Vec<Value> = self
            .host_paths
            .iter()
            .enumerate()
            .map(|(i, (path, _))| json!({"name": volume(i), "mountPath": path}))
            .collect();
        let volumes: Vec<Value> = self
            .host_paths
            .iter()
            .enumerate()
            .map(|(i, (path, kind))| json!({"name": volume(i), "hostPath": {"path": path, "type": kind}}))
            .collect();
        let mut container = json!({
            "name": self.name,
            "image": self.image,
            "command": self.command,
            "volumeMounts": mounts,
        });
        if !self.capabilities.is_empty() {
            container["securityContext"] = json!({"capabilities": {"add": self.capabilities}});
        }
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": self.name,
                "namespace": "kube-system",
                "labels": {"component": self.name, "tier": "control-plane"},
            },
            "spec": {
                "hostNetwork": true,
                "priorityClassName": "system-node-critical",
                "containers": [container],
                "volumes": volumes,
            },
        })
    }

    pub fn yaml(&self) -> String {
        serde_yaml::to_string(&self.pod()).expect("a JSON value is YAML")
    }
}

/// etcd, from Debian's etcd-server, its data in the node's /var/lib/etcd.
pub fn etcd(argv: Vec<String>) -> Component {
    Component {
        name: "etcd",
        image: "registry.k8s.io/etcd",
        command: argv,
        host_paths: vec![(crate::etcd::DATA_DIR, "DirectoryOrCreate")],
        capabilities: &[],
    }
}

/// The API server (`labyrinth server …`), its keys and data in the node's
/// /var/lib/labyrinth/apiserver.
pub fn apiserver(argv: Vec<String>, data_dir: &'static str) -> Component {
    Component {
        name: "kube-apiserver",
        image: "registry.k8s.io/kube-apiserver",
        command: argv,
        host_paths: vec![(data_dir, "DirectoryOrCreate")],
        capabilities: &[],
    }
}

/// The API server's command line: on `listen`, telling clients
/// `advertise` (the control-plane address, with several control planes),
/// on etcd at `etcd_servers` (kube-apiserver's --etcd-servers) or, with
/// none, on its own embedded store.
pub fn apiserver_command(
    exe: &str,
    listen: &str,
    service_cidr: &str,
    cluster_domain: &str,
    advertise: Option<&str>,
    etcd_servers: Option<&str>,
) -> Vec<String> {
    let mut argv: Vec<String> = [
        exe,
        "server",
        "--listen",
        listen,
        "--service-cidr",
        service_cidr,
        "--cluster-domain",
        cluster_domain,
    ]
    .map(String::from)
    .into();
    argv.extend(lab_workers());
    if let Some(a) = advertise {
        argv.extend(["--advertise-address".into(), a.to_string()]);
    }
    if let Some(e) = etcd_servers {
        argv.extend([
            "--store".into(),
            "etcd".into(),
            "--etcd-servers".into(),
            e.to_string(),
        ]);
    }
    argv
}

/// A lab's nodes share one machine's cores: one async worker per process
/// (`labyrinth_contracts::worker_threads`).
fn lab_workers() -> [String; 2] {
    use labyrinth_contracts::worker_threads::{FLAG, IN_A_LAB};
    [FLAG.to_string(), IN_A_LAB.to_string()]
}

/// A control plane's kube-controller-manager and kube-scheduler, each
/// with its kubeconfig; with `leader_elect` (several control planes) they
/// take turns through their Leases. `extra` goes to the controller
/// manager (the pod range, the LoadBalancer pool).
pub fn controller_pair(
    exe: &str,
    cm_conf: &'static str,
    sched_conf: &'static str,
    leader_elect_flags: bool,
    extra: &[String],
) -> [Component; 2] {
    let elect = |lease: &str| {
        if leader_elect_flags {
            leader_elect(lease)
        } else {
            Vec::new()
        }
    };
    let mut cm_extra = elect("kube-controller-manager");
    cm_extra.extend(extra.iter().cloned());
    [
        controllers(
            "kube-controller-manager",
            exe,
            cm_conf,
            CONTROLLER_MANAGER,
            &cm_extra,
        ),
        controllers(
            "kube-scheduler",
            exe,
            sched_conf,
            "scheduler",
            &elect("kube-scheduler"),
        ),
    ]
}

/// kube-controller-manager or kube-scheduler: `labyrinth controllers`
/// running the given controllers, with the admin kubeconfig (kubeadm gives
/// each its own; this lab has one admin credential).
pub fn controllers(
    name: &'static str,
    exe: &str,
    kubeconfig: &'static str,
    which: &str,
    extra: &[String],
) -> Component {
    let mut command: Vec<String> = [
        exe,
        "controllers",
        "--kubeconfig",
        kubeconfig,
        "--controllers",
        which,
    ]
    .map(String::from)
    .into();
    command.extend(lab_workers());
    command.extend(extra.iter().cloned());
    Component {
        name,
        image: if name == "kube-scheduler" {
            "registry.k8s.io/kube-scheduler"
        } else {
            "registry.k8s.io/kube-controller-manager"
        },
        command,
        host_paths: vec![(kubeconfig, "File")],
        capabilities: &[],
    }
}

/// The control-plane address's holder (`labyrinth vip`, kube-vip's role),
/// renewing its Lease through this node's own API server on loopback.
pub fn vip(exe: &str, kubeconfig: &'static str, address: std::net::Ipv4Addr) -> Component {
    let command: Vec<String> = [
        exe,
        "vip",
        "--kubeconfig",
        kubeconfig,
        "--address",
        &address.to_string(),
        "--interface",
        crate::vpc::UPLINK,
    ]
    .map(String::from)
    .into();
    Component {
        name: "kube-vip",
        image: "ghcr.io/kube-vip/kube-vip",
        command,
        host_paths: vec![(kubeconfig, "File")],
        // It adds the address to the uplink and announces it (gratuitous
        // ARP), as kube-vip's own manifest asks.
        capabilities: &["NET_ADMIN", "NET_RAW"],
    }
}

/// The flags that make several copies of a controller process take turns
/// through the Lease `lease` (kube-controller-manager, kube-scheduler).
pub fn leader_elect(lease: &str) -> Vec<String> {
    ["--leader-elect", "--leader-elect-resource-name", lease]
        .map(String::from)
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_component_is_a_host_network_pod_labelled_as_kubeadms() {
        let c = apiserver(
            vec!["labyrinth".into(), "server".into()],
            "/var/lib/labyrinth/apiserver",
        );
        assert_eq!(c.file(), "kube-apiserver.yaml");
        let back: Value = serde_yaml::from_str(&c.yaml()).unwrap();
        assert_eq!(back, c.pod());
        assert_eq!(back["metadata"]["labels"]["tier"], "control-plane");
        assert_eq!(back["metadata"]["labels"]["component"], "kube-apiserver");
        assert_eq!(back["metadata"]["namespace"], "kube-system");
        assert_eq!(back["spec"]["hostNetwork"], true);
        assert_eq!(back["spec"]["priorityClassName"], "system-node-critical");
        let c0 = &back["spec"]["containers"][0];
        assert_eq!(c0["command"], json!(["labyrinth", "server"]));
        assert_eq!(c0["volumeMounts"][0]["mountPath"], "/var/lib/labyrinth/apiserver");
        assert_eq!(
            back["spec"]["volumes"][0]["hostPath"]["type"],
            "DirectoryOrCreate"
        );
    }

    #[test]
    fn the_scheduler_and_the_controller_manager_split_the_controllers() {
        let s = controllers(
            "kube-scheduler",
            "labyrinth",
            "/etc/kubernetes/admin.conf",
            "scheduler",
            &[],
        );
        let cm = controllers(
            "kube-controller-manager",
            "labyrinth",
            "/etc/kubernetes/admin.conf",
            CONTROLLER_MANAGER,
            &["--cluster-cidr".into(), "10.0.0.0/16".into()],
        );
        assert_eq!(s.command[5], "scheduler");
        assert!(!CONTROLLER_MANAGER.split(',').any(|c| c == "scheduler"));
        assert_eq!(cm.command.last().unwrap(), "10.0.0.0/16");
        assert_eq!(cm.image, "registry.k8s.io/kube-controller-manager");
        assert_eq!(s.pod()["spec"]["volumes"][0]["hostPath"]["type"], "File");
    }

    #[test]
    fn the_api_server_and_controller_commands_are_the_same_for_init_and_join() {
        let one = apiserver_command(
            "labyrinth",
            "10.168.0.2:6443",
            "10.96.0.0/12",
            "cluster.local",
            None,
            None,
        );
        assert_eq!(
            one.join(" "),
            "labyrinth server --listen 10.168.0.2:6443 --service-cidr 10.96.0.0/12 --cluster-domain cluster.local \
             --worker-threads 1"
        );
        let ha = apiserver_command(
            "labyrinth",
            "0.0.0.0:6443",
            "10.96.0.0/12",
            "cluster.local",
            Some("10.168.0.7:6443"),
            Some("http://127.0.0.1:2379,http://10.168.0.2:2379"),
        );
        assert_eq!(
            ha[10..],
            [
                "--advertise-address",
                "10.168.0.7:6443",
                "--store",
                "etcd",
                "--etcd-servers",
                "http://127.0.0.1:2379,http://10.168.0.2:2379"
            ]
        );
        let extra = ["--cluster-cidr".to_string(), "10.0.0.0/16".to_string()];
        let [cm, s] = controller_pair("labyrinth", "/cm.conf", "/s.conf", true, &extra);
        assert_eq!(
            cm.command[8..],
            [
                "--leader-elect",
                "--leader-elect-resource-name",
                "kube-controller-manager",
                "--cluster-cidr",
                "10.0.0.0/16"
            ]
        );
        assert_eq!(
            s.command[8..],
            ["--leader-elect", "--leader-elect-resource-name", "kube-scheduler"]
        );
        let [cm, s] = controller_pair("labyrinth", "/a.conf", "/a.conf", false, &extra);
        assert_eq!(cm.command[8..], ["--cluster-cidr", "10.0.0.0/16"]);
        assert_eq!(s.command.len(), 8);
        // A lab's processes share its machine's cores: one worker each.
        assert_eq!(s.command[6..8], ["--worker-threads", "1"]);
    }

    #[test]
    fn the_address_holder_is_a_host_network_pod_naming_the_address_and_uplink() {
        let v = vip(
            "labyrinth",
            "/etc/kubernetes/admin.conf",
            "10.168.0.7".parse().unwrap(),
        );
        assert_eq!(v.file(), "kube-vip.yaml");
        let pod: Value = serde_yaml::from_str(&v.yaml()).unwrap();
        assert_eq!(pod["spec"]["hostNetwork"], true);
        assert_eq!(
            pod["spec"]["containers"][0]["command"],
            json!([
                "labyrinth",
                "vip",
                "--kubeconfig",
                "/etc/kubernetes/admin.conf",
                "--address",
                "10.168.0.7",
                "--interface",
                "ens4"
            ])
        );
        // Beyond the runtime's default set: the address and its ARP.
        assert_eq!(
            pod["spec"]["containers"][0]["securityContext"],
            json!({"capabilities": {"add": ["NET_ADMIN", "NET_RAW"]}})
        );
        let cm = controllers(
            "kube-scheduler",
            "labyrinth",
            "/etc/kubernetes/scheduler.conf",
            "scheduler",
            &leader_elect("kube-scheduler"),
        );
        assert_eq!(
            cm.command[8..],
            ["--leader-elect", "--leader-elect-resource-name", "kube-scheduler"]
        );
    }
}
