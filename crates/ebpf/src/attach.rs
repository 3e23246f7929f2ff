//! Attaching a program to a device's ingress or egress: a tcx link pinned
//! under <pin dir>/links (kernel ≥ 6.6), or a clsact filter with a fixed
//! priority and handle (older kernels). Attaching where we already are
//! replaces the program atomically (bpf_link_update, or a cls_bpf filter
//! change): packets never see a moment without a program, which is what
//! lets a restarted agent load new code under live traffic.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use aya::programs::links::{FdLink, PinnedLink};
use aya::programs::tc::{NlOptions, SchedClassifierLink, TcAttachOptions, TcHandle};
use aya::programs::{LinkOrder, SchedClassifier, TcAttachType};
use aya::util::KernelVersion;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AttachMode {
    /// tcx where the kernel has it (6.6+), clsact otherwise.
    Auto,
    Tcx,
    Clsact,
}

impl AttachMode {
    pub fn resolve(self) -> AttachMode {
        match self {
            AttachMode::Auto if KernelVersion::current().is_ok_and(|v| v >= KernelVersion::new(6, 6, 0)) => {
                AttachMode::Tcx
            }
            AttachMode::Auto => AttachMode::Clsact,
            m => m,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    Ingress,
    Egress,
}

impl Hook {
    fn tc(self) -> TcAttachType {
        match self {
            Hook::Ingress => TcAttachType::Ingress,
            Hook::Egress => TcAttachType::Egress,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Hook::Ingress => "ingress",
            Hook::Egress => "egress",
        }
    }
}

/// Our clsact filters sit at this priority/handle, so a later attach finds
/// and replaces exactly them.
const NL_PRIORITY: u16 = 1;
const NL_HANDLE: TcHandle = TcHandle::new(0, 1);

/// "<ifname>@<ifindex>@<hook>": the ifindex tells a link of a deleted and
/// re-created device of the same name from a live one. (bpffs refuses
/// names with dots.)
fn link_pin(dir: &Path, ifname: &str, ifindex: u32, hook: Hook) -> PathBuf {
    dir.join("links")
        .join(format!("{ifname}@{ifindex}@{}", hook.as_str()))
}

/// Pins of `ifname` (any ifindex) at `hook`.
fn pins_of(dir: &Path, ifname: &str, hook: Hook) -> Vec<PathBuf> {
    let prefix = format!("{ifname}@");
    let suffix = format!("@{}", hook.as_str());
    std::fs::read_dir(dir.join("links"))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            n.starts_with(&prefix) && n.ends_with(&suffix)
        })
        .collect()
}

/// Attach `prog` at `hook` of `ifname` (looked up in the calling thread's
/// network namespace), replacing our earlier program there if any.
pub fn attach(
    prog: &mut SchedClassifier,
    mode: AttachMode,
    pin_dir: &Path,
    ifname: &str,
    ifindex: u32,
    hook: Hook,
) -> Result<()> {
    let pname = prog_name(prog);
    let what = || format!("attaching {pname} to {ifname} {}", hook.as_str());
    match mode.resolve() {
        AttachMode::Clsact => {
            // EEXIST when the qdisc is there already, which is fine.
            let _ = aya::programs::tc::qdisc_add_clsact(ifname);
            // Replace our filter if it is there (no NLM_F_CREATE: the kernel
            // refuses when it is not), else create it.
            let replaced = SchedClassifierLink::attached(ifname, hook.tc(), NL_PRIORITY, NL_HANDLE, None)
                .ok()
                .and_then(|old| prog.attach_to_link(old).ok());
            let id = match replaced {
                Some(id) => Ok(id),
                None => prog.attach_with_options(
                    ifname,
                    hook.tc(),
                    TcAttachOptions::Netlink(NlOptions {
                        priority: NL_PRIORITY,
                        handle: NL_HANDLE,
                        classid: None,
                    }),
                ),
            }
            .with_context(what)?;
            // The filter stays when this process ends: never detach on drop.
            std::mem::forget(prog.take_link(id).with_context(what)?);
            // A tcx link an earlier run left would run first and take
            // every packet: it goes once our filter is in place.
            detach(AttachMode::Tcx, pin_dir, ifname, hook)?;
        }
        _ => {
            let pin = link_pin(pin_dir, ifname, ifindex, hook);
            let mut existing = None;
            for p in pins_of(pin_dir, ifname, hook) {
                if p == pin {
                    existing = Some(PinnedLink::from_pin(&p).with_context(what)?);
                } else {
                    // A link of an earlier device of that name: dead.
                    let _ = std::fs::remove_file(&p);
                }
            }
            let id = match existing {
                Some(old) => {
                    let fd = old.unpin().with_context(what)?;
                    prog.attach_to_link(SchedClassifierLink::try_from(fd).with_context(what)?)
                }
                None => prog.attach_with_options(
                    ifname,
                    hook.tc(),
                    TcAttachOptions::TcxOrder(LinkOrder::default()),
                ),
            }
            .with_context(what)?;
            let link: FdLink = prog
                .take_link(id)
                .with_context(what)?
                .try_into()
                .with_context(what)?;
            link.pin(&pin)
                .with_context(|| format!("pinning the link at {}", pin.display()))?;
            // A clsact filter an earlier run left (an agent that attached
            // that way): the tcx link runs before it and our programs
            // always give a verdict, so removing the filter now leaves no
            // gap.
            detach(AttachMode::Clsact, pin_dir, ifname, hook)?;
        }
    }
    Ok(())
}

/// Detach whatever we attached at `hook` of `ifname` (gone devices are fine).
pub fn detach(mode: AttachMode, pin_dir: &Path, ifname: &str, hook: Hook) -> Result<()> {
    match mode.resolve() {
        AttachMode::Clsact => {
            // A device that is gone took its filters with it; a missing
            // filter is what we want.
            if let Ok(link) = SchedClassifierLink::attached(ifname, hook.tc(), NL_PRIORITY, NL_HANDLE, None) {
                use aya::programs::Link;
                if let Err(e) = link.detach() {
                    tracing::debug!("detaching from {ifname} {}: {e}", hook.as_str());
                }
            }
        }
        _ => {
            // Removing the last reference (the pin) detaches a tcx link.
            for p in pins_of(pin_dir, ifname, hook) {
                std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
            }
        }
    }
    Ok(())
}

fn prog_name(prog: &SchedClassifier) -> String {
    prog.info()
        .ok()
        .and_then(|i| i.name_as_str().map(str::to_string))
        .unwrap_or_else(|| "program".into())
}

/// Every pinned link: (ifname, ifindex, hook name).
pub fn pinned_links(pin_dir: &Path) -> Vec<(String, u32, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(pin_dir.join("links"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let n = e.file_name().to_string_lossy().into_owned();
        let mut parts = n.rsplitn(3, '@');
        let (Some(hook), Some(idx), Some(ifname)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if let Ok(idx) = idx.parse() {
            out.push((ifname.to_string(), idx, hook.to_string()));
        }
    }
    out.sort();
    out
}
