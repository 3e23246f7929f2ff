//! `labyrinth proxy`: program Services from a file of API objects in the
//! current network namespace (the agent runs it inside a node), print the
//! rules without applying them, or run the sync benchmarks.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use ipnet::Ipv4Net;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde::Deserialize;

use crate::datapath::Datapath;
use crate::k8s::ServiceStore;
use crate::model::ServiceModel;
use crate::sync::Proxier;
use crate::{IptablesDatapath, NftablesDatapath};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatapathKind {
    Iptables,
    Nftables,
}

impl DatapathKind {
    pub fn build(self) -> Box<dyn Datapath> {
        match self {
            DatapathKind::Iptables => Box::new(IptablesDatapath::new()),
            DatapathKind::Nftables => Box::new(NftablesDatapath::new()),
        }
    }
}

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Which datapath programs the Services.
    #[arg(long, value_enum, default_value = "iptables")]
    pub datapath: DatapathKind,
    /// Sources outside this range are masqueraded (kube-proxy's --cluster-cidr).
    #[arg(long, default_value = "10.0.0.0/16")]
    pub cluster_cidr: Ipv4Net,
    /// YAML or JSON with Services and EndpointSlices (a List, or `---`-separated documents).
    #[arg(long)]
    pub objects: Option<PathBuf>,
    /// Print the iptables-restore input / nft script instead of applying it.
    #[arg(long)]
    pub dry_run: bool,
    /// Sync once and exit (otherwise re-read --objects and resync every --resync-period).
    #[arg(long)]
    pub once: bool,
    /// Seconds between resyncs (drift repair).
    #[arg(long, default_value_t = 30)]
    pub resync_period: u64,
    /// Remove every rule this datapath owns and exit.
    #[arg(long)]
    pub cleanup: bool,
    /// Run the sync benchmarks (root; in scratch namespaces) and print JSON.
    #[arg(long)]
    pub bench: bool,
    /// Service counts for --bench, comma-separated.
    #[arg(long, default_value = "1000,10000,30000", value_delimiter = ',')]
    pub bench_sizes: Vec<usize>,
}

/// Parse Services and EndpointSlices out of a YAML/JSON file.
pub fn load_objects(path: &Path) -> Result<ServiceStore> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut store = ServiceStore::default();
    let mut docs = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let v = serde_json::to_value(
            serde_yaml::Value::deserialize(doc).with_context(|| format!("parsing {}", path.display()))?,
        )?;
        match v.get("items").and_then(|i| i.as_array()) {
            Some(items) => docs.extend(items.iter().cloned()),
            None if !v.is_null() => docs.push(v),
            None => {}
        }
    }
    for (i, doc) in docs.into_iter().enumerate() {
        let kind = doc
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or_default()
            .to_string();
        match kind.as_str() {
            "Service" => store.apply_service(
                serde_json::from_value::<Service>(doc).with_context(|| format!("object {i}: Service"))?,
            )?,
            "EndpointSlice" => store.apply_slice(
                serde_json::from_value::<EndpointSlice>(doc)
                    .with_context(|| format!("object {i}: EndpointSlice"))?,
            )?,
            _ => bail!(
                "object {i} in {}: kind {kind:?} is neither Service nor EndpointSlice",
                path.display()
            ),
        }
    }
    Ok(store)
}

fn model_from(args: &Args) -> Result<ServiceModel> {
    match &args.objects {
        Some(p) => load_objects(p)?.model(Some(args.cluster_cidr)),
        None => Ok(ServiceModel::new(Some(args.cluster_cidr))),
    }
}

fn mtime(p: &Option<PathBuf>) -> Option<SystemTime> {
    p.as_ref()
        .and_then(|p| std::fs::metadata(p).ok())
        .and_then(|m| m.modified().ok())
}

pub fn run(args: Args) -> Result<i32> {
    if args.bench {
        let plan = crate::bench::Plan {
            sizes: args.bench_sizes.clone(),
            ..Default::default()
        };
        let v = crate::bench::bench(&plan)?;
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    if args.cleanup {
        args.datapath.build().cleanup()?;
        return Ok(0);
    }
    let model = model_from(&args)?;
    if args.dry_run {
        let text = match args.datapath {
            DatapathKind::Iptables => {
                crate::iptables::compile::render_full(&crate::iptables::compile(&model), None)
            }
            DatapathKind::Nftables => crate::nftables::render_full(&crate::nftables::compile(&model)),
        };
        print!("{text}");
        return Ok(0);
    }
    let mut proxier = Proxier::new(args.datapath.build());
    proxier.set_model(model, None);
    let r = proxier.sync()?;
    eprintln!("{}: {:?} in {:?}", proxier.datapath_name(), r.kind, r.took);
    if args.once {
        return Ok(0);
    }
    let mut seen = mtime(&args.objects);
    loop {
        std::thread::sleep(Duration::from_secs(args.resync_period.max(1)));
        let now = mtime(&args.objects);
        if now != seen {
            seen = now;
            match model_from(&args) {
                Ok(m) => proxier.set_model(m, now),
                Err(e) => eprintln!("keeping the last good model: {e:#}"),
            }
        }
        match proxier.resync() {
            Ok(r) => eprintln!("{}: {:?} in {:?}", proxier.datapath_name(), r.kind, r.took),
            Err(e) => eprintln!("resync failed: {e:#}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_multi_document_yaml_and_rejects_other_kinds() {
        let dir = std::env::temp_dir().join(format!("labyrinth-proxy-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("objects.yaml");
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: wrk-2}\n\
             spec: {clusterIP: 10.96.0.50, ports: [{port: 9999, protocol: TCP}]}\n---\n\
             apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\naddressType: IPv4\n\
             metadata: {name: web-x, namespace: wrk-2, labels: {kubernetes.io/service-name: web}}\n\
             ports: [{port: 9999, protocol: TCP}]\nendpoints: [{addresses: [10.0.2.5]}]\n",
        )
        .unwrap();
        let model = load_objects(&path).unwrap().model(None).unwrap();
        let sp = model.services.values().next().unwrap();
        assert_eq!(sp.name.to_string(), "wrk-2/web");
        assert_eq!(sp.endpoints[0].addr(), "10.0.2.5:9999");
        std::fs::write(&path, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n").unwrap();
        let err = format!("{:#}", load_objects(&path).unwrap_err());
        assert!(err.contains("\"Pod\""), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
