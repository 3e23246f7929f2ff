//! What a container's process may do and who it is, as a container
//! runtime decides it from the pod's and the container's
//! `securityContext`: the capabilities containerd (and Docker) give by
//! default, the manifest's `drop` then `add` (`ALL` in either), every
//! capability for a privileged container, `no_new_privs` for
//! `allowPrivilegeEscalation: false`, and `runAsUser`, `runAsGroup` and
//! `supplementalGroups` and `fsGroup` (`runAsNonRoot` refuses root), a
//! read-only root for `readOnlyRootFilesystem`, and the runtime's default
//! system-call filter for `seccompProfile: {type: RuntimeDefault}`.
//! native/pause.c applies it (`limit`) before the container's program
//! runs; an exec, a probe or a hook in the container gets what its
//! process has.

use labyrinth_contracts::pod::{PodSecurityContext, SeccompProfile, SecurityContext};
use serde::{Deserialize, Serialize};

/// The kernel's capabilities, by number (linux/capability.h), without
/// the `CAP_` prefix, as a manifest names them.
const NAMES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// Every capability this table names (a privileged container's set).
const ALL: u64 = (1 << NAMES.len()) - 1;

/// containerd's default set for a container that is not privileged (the
/// same as Docker's): no NET_ADMIN, no SYS_ADMIN, so a pod can neither
/// change its network nor mount (nor unmount what hides the node's files).
const DEFAULT: [&str; 14] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// A container process's privileges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Privileges {
    /// Bit N for capability N; `None`: every one the node has (privileged).
    pub caps: Option<u64>,
    pub no_new_privs: bool,
    /// Its user and group (0: root, what every catalog image runs as).
    #[serde(default)]
    pub uid: u32,
    #[serde(default)]
    pub gid: u32,
    /// Its supplementary groups (`supplementalGroups`, then `fsGroup`).
    #[serde(default)]
    pub groups: Vec<u32>,
    /// `readOnlyRootFilesystem`: its root's own mounts cannot be written.
    #[serde(default)]
    pub read_only_root: bool,
    /// `seccompProfile` RuntimeDefault: native/pause.c's `filter` refuses
    /// the system calls a container runtime's default profile refuses.
    #[serde(default)]
    pub seccomp: bool,
}

impl Default for Privileges {
    /// A container without a `securityContext`.
    fn default() -> Self {
        Privileges {
            caps: Some(mask(&DEFAULT)),
            no_new_privs: false,
            uid: 0,
            gid: 0,
            groups: Vec::new(),
            read_only_root: false,
            seccomp: false,
        }
    }
}

/// The largest user or group id the API allows.
const MAX_ID: i64 = i32::MAX as i64;

fn id(v: Option<i64>, field: &str) -> Result<Option<u32>, String> {
    match v {
        Some(n) if !(0..=MAX_ID).contains(&n) => {
            Err(format!("{field}: {n}: must be between 0 and {MAX_ID}, inclusive"))
        }
        Some(n) => Ok(Some(n as u32)),
        None => Ok(None),
    }
}

fn mask(names: &[&str]) -> u64 {
    names.iter().filter_map(|n| number(n)).fold(0, |m, c| m | 1 << c)
}

/// Capability `name` (`NET_ADMIN`, `cap_net_admin`) by number.
fn number(name: &str) -> Option<usize> {
    let up = name.to_ascii_uppercase();
    let bare = up.strip_prefix("CAP_").unwrap_or(&up);
    NAMES.iter().position(|n| *n == bare)
}

impl Privileges {
    /// What a container with `sc` as its `securityContext`, in a pod with
    /// `pod`, gets; an unknown capability, an id out of range or root under
    /// `runAsNonRoot` is an error naming its field.
    pub fn of(pod: Option<&PodSecurityContext>, sc: Option<&SecurityContext>) -> Result<Privileges, String> {
        let none = SecurityContext::default();
        let sc = sc.unwrap_or(&none);
        let pod_none = PodSecurityContext::default();
        let pod = pod.unwrap_or(&pod_none);
        let user = match id(sc.run_as_user, "securityContext.runAsUser")? {
            Some(u) => Some(u),
            None => id(pod.run_as_user, "spec.securityContext.runAsUser")?,
        };
        let group = match id(sc.run_as_group, "securityContext.runAsGroup")? {
            Some(g) => Some(g),
            None => id(pod.run_as_group, "spec.securityContext.runAsGroup")?,
        };
        let mut groups = Vec::with_capacity(pod.supplemental_groups.len());
        for (i, g) in pod.supplemental_groups.iter().enumerate() {
            groups.extend(id(
                Some(*g),
                &format!("spec.securityContext.supplementalGroups[{i}]"),
            )?);
        }
        // kubelet adds the pod's fsGroup to every container's groups.
        if let Some(g) = id(pod.fs_group, "spec.securityContext.fsGroup")? {
            if !groups.contains(&g) {
                groups.push(g);
            }
        }
        if sc.run_as_non_root.or(pod.run_as_non_root) == Some(true) {
            match user {
                Some(0) => return Err("container's runAsUser breaks non-root policy".into()),
                None => return Err("container has runAsNonRoot and image will run as root".into()),
                Some(_) => {}
            }
        }
        let no_new_privs = sc.allow_privilege_escalation == Some(false);
        let privileged = sc.privileged == Some(true);
        let caps = if privileged { None } else { Some(Self::caps(sc)?) };
        let seccomp = match (&sc.seccomp_profile, &pod.seccomp_profile) {
            (Some(p), _) => runtime_default(p, "securityContext.seccompProfile")?,
            (None, Some(p)) => runtime_default(p, "spec.securityContext.seccompProfile")?,
            (None, None) => false,
        };
        Ok(Privileges {
            caps,
            no_new_privs,
            uid: user.unwrap_or(0),
            gid: group.unwrap_or(0),
            groups,
            read_only_root: sc.read_only_root_filesystem == Some(true),
            // As containerd: a privileged container runs unconfined.
            seccomp: seccomp && !privileged,
        })
    }

    /// The default set with the manifest's `drop`, then its `add`.
    fn caps(sc: &SecurityContext) -> Result<u64, String> {
        let mut caps = mask(&DEFAULT);
        if let Some(c) = &sc.capabilities {
            // Dropped first, then added: `drop: [ALL]` with `add:
            // [NET_BIND_SERVICE]` leaves that one, as on a cluster.
            for (field, list) in [("drop", &c.drop), ("add", &c.add)] {
                for (i, name) in list.iter().enumerate() {
                    let bits = if name.eq_ignore_ascii_case("ALL") {
                        ALL
                    } else {
                        let n = number(name).ok_or_else(|| {
                            format!("securityContext.capabilities.{field}[{i}]: unknown capability {name:?}")
                        })?;
                        1 << n
                    };
                    if field == "drop" {
                        caps &= !bits;
                    } else {
                        caps |= bits;
                    }
                }
            }
        }
        Ok(caps)
    }

    /// What process `pid` has (its bounding set: what it and its programs
    /// can ever hold; its user and groups), so that an exec in a container
    /// gets what the container's process got; the default set when it
    /// cannot be read.
    pub fn of_process(pid: u32) -> Privileges {
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            return Privileges::default();
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::trim)
                .unwrap_or("")
        };
        let Ok(caps) = u64::from_str_radix(field("CapBnd:"), 16) else {
            return Privileges::default();
        };
        // The effective id: the second of real, effective, saved, fs.
        let effective = |name: &str| field(name).split_whitespace().nth(1).and_then(|n| n.parse().ok());
        Privileges {
            caps: Some(caps).filter(|c| c & ALL != ALL),
            no_new_privs: field("NoNewPrivs:") == "1",
            uid: effective("Uid:").unwrap_or(0),
            gid: effective("Gid:").unwrap_or(0),
            groups: field("Groups:")
                .split_whitespace()
                .filter_map(|g| g.parse().ok())
                .collect(),
            // An exec joins the container's mount namespace: its root is
            // read-only already.
            read_only_root: false,
            // Mode 2: a filter. Ours is the only one a container's
            // process gets (an agent run under a filter passes its own to
            // every process, and stacking ours on top only refuses more).
            seccomp: field("Seccomp:") == "2",
        }
    }

    /// The home of its user: root's, or the node's `/etc/passwd` entry
    /// for the user (the container's `/etc` is the node's), else `/`, as
    /// runc sets `HOME` for a user the image does not list.
    pub fn home(&self) -> String {
        if self.uid == 0 {
            return "/root".into();
        }
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        home_in(&passwd, self.uid).unwrap_or_else(|| "/".into())
    }

    /// The CAPS argument of native/pause.c's `enter` and `run`: the mask
    /// (or `all`), then `nnp`, `ro` (a read-only root), `sc` (the default
    /// filter), then `u=UID,g=GID,G=G1:G2` when the process is to change
    /// user (root's own groups are the node's otherwise).
    pub fn arg(&self) -> String {
        let mut out = self.caps.map_or_else(|| "all".to_string(), |c| format!("{c:x}"));
        for (on, word) in [
            (self.no_new_privs, ",nnp"),
            (self.read_only_root, ",ro"),
            (self.seccomp, ",sc"),
        ] {
            if on {
                out.push_str(word);
            }
        }
        if self.uid != 0 || self.gid != 0 || !self.groups.is_empty() {
            out.push_str(&format!(",u={},g={}", self.uid, self.gid));
            if !self.groups.is_empty() {
                let g: Vec<String> = self.groups.iter().map(u32::to_string).collect();
                out.push_str(&format!(",G={}", g.join(":")));
            }
        }
        out
    }
}

/// Whether `profile` asks for the runtime's default filter: RuntimeDefault
/// (or its old name, `runtime/default`) yes, Unconfined no; a Localhost
/// profile is an error, as this runtime reads no profile files.
fn runtime_default(profile: &SeccompProfile, field: &str) -> Result<bool, String> {
    match profile.kind.as_str() {
        "RuntimeDefault" | "runtime/default" => Ok(true),
        "Unconfined" => Ok(false),
        "Localhost" => Err(format!(
            "{field}: Localhost profile {:?}: this runtime applies RuntimeDefault and Unconfined only",
            profile.localhost_profile.as_deref().unwrap_or("")
        )),
        other => Err(format!(
            "{field}.type: unsupported value {other:?}: supported values: \"Localhost\", \"RuntimeDefault\", \"Unconfined\""
        )),
    }
}

/// The home folder of user `uid` in an `/etc/passwd` text.
fn home_in(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 7 && f[2].parse() == Ok(uid)).then(|| f[5].to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use labyrinth_contracts::pod::Capabilities;

    fn sc(add: &[&str], drop: &[&str]) -> SecurityContext {
        SecurityContext {
            capabilities: Some(Capabilities {
                add: add.iter().map(|s| s.to_string()).collect(),
                drop: drop.iter().map(|s| s.to_string()).collect(),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_default_set_is_the_one_docker_and_containerd_give() {
        // `CapEff` of a root process in a default Docker container.
        assert_eq!(Privileges::default().caps, Some(0xa80425fb));
        assert_eq!(Privileges::of(None, None).unwrap(), Privileges::default());
        assert_eq!(Privileges::default().arg(), "a80425fb");
    }

    #[test]
    fn names_follow_the_kernel_numbers() {
        for (name, n) in [
            ("CHOWN", 0),
            ("NET_ADMIN", 12),
            ("SYS_ADMIN", 21),
            ("BPF", 39),
            ("CHECKPOINT_RESTORE", 40),
        ] {
            assert_eq!(number(name), Some(n), "{name}");
        }
        assert_eq!(number("cap_net_raw"), Some(13));
        assert_eq!(number("NET_SUPERPOWER"), None);
    }

    #[test]
    fn add_and_drop_change_the_default_set() {
        let p = Privileges::of(None, Some(&sc(&["NET_ADMIN"], &["NET_RAW"]))).unwrap();
        assert_eq!(p.caps, Some((0xa80425fb | 1 << 12) & !(1 << 13)));
        // CoreDNS's manifest: only the low ports.
        let p = Privileges::of(None, Some(&sc(&["NET_BIND_SERVICE"], &["ALL"]))).unwrap();
        assert_eq!(p.caps, Some(1 << 10));
        assert_eq!(p.arg(), "400");
        let p = Privileges::of(None, Some(&sc(&["ALL"], &[]))).unwrap();
        assert_eq!(p.caps, Some(ALL));
        assert_eq!(ALL, (1 << 41) - 1);
    }

    #[test]
    fn privileged_keeps_everything_and_no_escalation_is_no_new_privs() {
        let p = Privileges::of(
            None,
            Some(&SecurityContext {
                privileged: Some(true),
                ..Default::default()
            }),
        )
        .unwrap();
        assert_eq!((p.caps, p.arg().as_str()), (None, "all"));
        let p = Privileges::of(
            None,
            Some(&SecurityContext {
                allow_privilege_escalation: Some(false),
                ..Default::default()
            }),
        )
        .unwrap();
        assert_eq!(p.arg(), "a80425fb,nnp");
    }

    #[test]
    fn the_user_is_the_containers_else_the_pods() {
        let pod = PodSecurityContext {
            run_as_user: Some(1000),
            run_as_group: Some(3000),
            supplemental_groups: vec![4000, 5000],
            ..Default::default()
        };
        let p = Privileges::of(Some(&pod), None).unwrap();
        assert_eq!((p.uid, p.gid, p.groups.clone()), (1000, 3000, vec![4000, 5000]));
        assert_eq!(p.arg(), "a80425fb,u=1000,g=3000,G=4000:5000");
        let own = SecurityContext {
            run_as_user: Some(2000),
            ..Default::default()
        };
        let p = Privileges::of(Some(&pod), Some(&own)).unwrap();
        assert_eq!((p.uid, p.gid), (2000, 3000));
        // Root with no groups of its own asked for: no change of user.
        assert_eq!(Privileges::of(None, None).unwrap().arg(), "a80425fb");
    }

    #[test]
    fn run_as_non_root_refuses_root_and_ids_stay_in_range() {
        let non_root = |user: Option<i64>| SecurityContext {
            run_as_non_root: Some(true),
            run_as_user: user,
            ..Default::default()
        };
        assert_eq!(
            Privileges::of(None, Some(&non_root(None))).unwrap_err(),
            "container has runAsNonRoot and image will run as root"
        );
        assert_eq!(
            Privileges::of(None, Some(&non_root(Some(0)))).unwrap_err(),
            "container's runAsUser breaks non-root policy"
        );
        assert_eq!(Privileges::of(None, Some(&non_root(Some(1)))).unwrap().uid, 1);
        let pod = PodSecurityContext {
            run_as_non_root: Some(true),
            ..Default::default()
        };
        assert!(Privileges::of(Some(&pod), None).is_err());
        let e = Privileges::of(None, Some(&non_root(Some(-1)))).unwrap_err();
        assert_eq!(
            e,
            "securityContext.runAsUser: -1: must be between 0 and 2147483647, inclusive"
        );
        let pod = PodSecurityContext {
            supplemental_groups: vec![1, 1 << 40],
            ..Default::default()
        };
        let e = Privileges::of(Some(&pod), None).unwrap_err();
        assert!(
            e.starts_with("spec.securityContext.supplementalGroups[1]: "),
            "{e}"
        );
    }

    #[test]
    fn home_comes_from_the_passwd_entry_or_is_root() {
        let passwd =
            "root:x:0:0:root:/root:/bin/bash\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n";
        assert_eq!(home_in(passwd, 33).as_deref(), Some("/var/www"));
        assert_eq!(home_in(passwd, 1000), None);
        let p = Privileges {
            uid: 4242424,
            ..Default::default()
        };
        assert_eq!(p.home(), "/");
        assert_eq!(Privileges::default().home(), "/root");
    }

    #[test]
    fn an_unknown_capability_names_its_field() {
        let e = Privileges::of(None, Some(&sc(&["NET_ADMIN", "WARP_DRIVE"], &[]))).unwrap_err();
        assert_eq!(
            e,
            "securityContext.capabilities.add[1]: unknown capability \"WARP_DRIVE\""
        );
        let e = Privileges::of(None, Some(&sc(&[], &["nope"]))).unwrap_err();
        assert!(e.starts_with("securityContext.capabilities.drop[0]:"), "{e}");
    }

    #[test]
    fn a_process_privileges_are_read_from_its_status() {
        // This test's own process: whatever it holds, reading it back and
        // writing it as the argument round-trips through the same mask.
        let me = Privileges::of_process(std::process::id());
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let bnd = status
            .lines()
            .find_map(|l| l.strip_prefix("CapBnd:"))
            .unwrap()
            .trim();
        let bnd = u64::from_str_radix(bnd, 16).unwrap();
        match me.caps {
            None => assert_eq!(bnd & ALL, ALL),
            Some(c) => assert_eq!(c, bnd),
        }
        let uid = status.lines().find_map(|l| l.strip_prefix("Uid:")).unwrap();
        assert_eq!(Some(me.uid.to_string().as_str()), uid.split_whitespace().nth(1));
        // A process that is not there: the default set, never more.
        assert_eq!(Privileges::of_process(u32::MAX), Privileges::default());
    }

    fn profile(kind: &str) -> Option<Box<SeccompProfile>> {
        Some(Box::new(SeccompProfile {
            kind: kind.into(),
            localhost_profile: (kind == "Localhost").then(|| "profiles/audit.json".into()),
        }))
    }

    #[test]
    fn seccomp_is_the_containers_profile_else_the_pods() {
        let pod = PodSecurityContext {
            seccomp_profile: profile("RuntimeDefault"),
            ..Default::default()
        };
        let p = Privileges::of(Some(&pod), None).unwrap();
        assert!(p.seccomp);
        assert_eq!(p.arg(), "a80425fb,sc");
        // The container's own Unconfined wins over the pod's.
        let own = SecurityContext {
            seccomp_profile: profile("Unconfined"),
            ..Default::default()
        };
        assert!(!Privileges::of(Some(&pod), Some(&own)).unwrap().seccomp);
        // A privileged container runs unconfined, as with containerd.
        let privileged = SecurityContext {
            privileged: Some(true),
            ..Default::default()
        };
        assert!(!Privileges::of(Some(&pod), Some(&privileged)).unwrap().seccomp);
        // No profile anywhere: kubelet's default, Unconfined.
        assert!(!Privileges::of(None, None).unwrap().seccomp);
        // kubectl debug --profile=restricted: all of it at once.
        let restricted = SecurityContext {
            allow_privilege_escalation: Some(false),
            capabilities: Some(Capabilities {
                add: vec![],
                drop: vec!["ALL".into()],
            }),
            run_as_non_root: Some(true),
            run_as_user: Some(65534),
            seccomp_profile: profile("RuntimeDefault"),
            read_only_root_filesystem: Some(true),
            ..Default::default()
        };
        let p = Privileges::of(None, Some(&restricted)).unwrap();
        assert_eq!(p.arg(), "0,nnp,ro,sc,u=65534,g=0");
    }

    #[test]
    fn a_profile_this_runtime_cannot_apply_names_its_field() {
        let own = SecurityContext {
            seccomp_profile: profile("Localhost"),
            ..Default::default()
        };
        let e = Privileges::of(None, Some(&own)).unwrap_err();
        assert_eq!(
            e,
            "securityContext.seccompProfile: Localhost profile \"profiles/audit.json\": this runtime applies RuntimeDefault and Unconfined only"
        );
        let pod = PodSecurityContext {
            seccomp_profile: profile("Strict"),
            ..Default::default()
        };
        let e = Privileges::of(Some(&pod), None).unwrap_err();
        assert!(
            e.starts_with("spec.securityContext.seccompProfile.type: unsupported value \"Strict\""),
            "{e}"
        );
    }

    #[test]
    fn fs_group_joins_the_supplementary_groups_once() {
        let pod = PodSecurityContext {
            supplemental_groups: vec![4000],
            fs_group: Some(2000),
            ..Default::default()
        };
        let p = Privileges::of(Some(&pod), None).unwrap();
        assert_eq!(p.groups, vec![4000, 2000]);
        assert_eq!(p.arg(), "a80425fb,u=0,g=0,G=4000:2000");
        let pod = PodSecurityContext {
            supplemental_groups: vec![2000],
            fs_group: Some(2000),
            ..Default::default()
        };
        assert_eq!(Privileges::of(Some(&pod), None).unwrap().groups, vec![2000]);
        let pod = PodSecurityContext {
            fs_group: Some(-5),
            ..Default::default()
        };
        assert!(Privileges::of(Some(&pod), None)
            .unwrap_err()
            .starts_with("spec.securityContext.fsGroup: -5"));
    }
}
