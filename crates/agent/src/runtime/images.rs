//! The image catalog (crates/agent/images.yaml): what a container of a
//! known image runs, and the Kubernetes rules that combine it with the
//! manifest's `command` and `args`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use anyhow::{Context, Result};
use serde::Deserialize;

/// The catalog's text, built into the agent.
const CATALOG: &str = include_str!("../../images.yaml");

/// One image, as its config describes it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Image {
    #[serde(default)]
    pub entrypoint: Vec<String>,
    #[serde(default)]
    pub cmd: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub working_dir: Option<String>,
    #[serde(default)]
    pub idle: bool,
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    #[serde(default)]
    pub links: BTreeMap<String, String>,
}

pub type Catalog = BTreeMap<String, Image>;

/// Reads a catalog; an error names the image and the field.
pub fn parse(text: &str) -> Result<Catalog> {
    let c: Catalog = serde_yaml::from_str(text).context("reading the image catalog")?;
    for (name, img) in &c {
        for path in img.files.keys().chain(img.links.keys()) {
            anyhow::ensure!(
                path.starts_with('/') && !path.split('/').any(|p| p == ".."),
                "image catalog: {name}: files/links path {path:?} must be absolute, without '..'"
            );
        }
        if let Some(w) = &img.working_dir {
            anyhow::ensure!(
                w.starts_with('/'),
                "image catalog: {name}: workingDir {w:?} must be absolute"
            );
        }
    }
    Ok(c)
}

/// The built-in catalog (checked by a unit test, so never fails here).
pub fn catalog() -> &'static Catalog {
    static C: OnceLock<Catalog> = OnceLock::new();
    C.get_or_init(|| parse(CATALOG).expect("images.yaml is checked by the tests"))
}

/// `docker.io/library/nginx:1.27@sha256:…` → `nginx`; other registries
/// keep their host (`registry.k8s.io/pause:3.10` → `registry.k8s.io/pause`).
pub fn normalise(image: &str) -> String {
    let mut s = image.trim();
    if let Some((name, _digest)) = s.split_once('@') {
        s = name;
    }
    // A tag is after the last ':' that follows the last '/' (a registry
    // port, "host:5000/x", is not a tag).
    let slash = s.rfind('/').map_or(0, |i| i + 1);
    if let Some(colon) = s[slash..].rfind(':') {
        s = &s[..slash + colon];
    }
    for prefix in ["docker.io/", "index.docker.io/", "registry-1.docker.io/"] {
        if let Some(rest) = s.strip_prefix(prefix) {
            s = rest;
        }
    }
    s.strip_prefix("library/").unwrap_or(s).to_string()
}

/// What a container runs, once image and manifest are combined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// None: nothing to run, the container idles (pause).
    pub argv: Option<Vec<String>>,
    /// The image's env (the manifest's comes after it).
    pub env: Vec<(String, String)>,
    pub working_dir: String,
    pub files: Vec<(String, String)>,
    pub links: Vec<(String, String)>,
    /// Set when the image is unknown and the manifest gave no command.
    pub warning: Option<String>,
}

/// Kubernetes' rules: `command` replaces the entrypoint, `args` replace
/// cmd; `args` alone run after the image's entrypoint.
pub fn launch(catalog: &Catalog, image: &str, command: &[String], args: &[String]) -> Launch {
    let name = normalise(image);
    let known = catalog.get(&name);
    let img = known.cloned().unwrap_or_default();
    let argv: Vec<String> = if !command.is_empty() {
        command.iter().chain(args).cloned().collect()
    } else if !args.is_empty() {
        img.entrypoint.iter().chain(args).cloned().collect()
    } else {
        img.entrypoint.iter().chain(&img.cmd).cloned().collect()
    };
    let idle = argv.is_empty() || (command.is_empty() && args.is_empty() && img.idle);
    let warning = (known.is_none() && command.is_empty() && args.is_empty()).then(|| {
        format!(
            "image {image:?} is not in Labyrinth's image catalog and the container has no command, \
             so it only idles: give the container a `command` (programs of the node run), or add \
             {name:?} to crates/agent/images.yaml (README: Images)"
        )
    });
    Launch {
        argv: (!idle).then_some(argv),
        env: img.env.into_iter().collect(),
        working_dir: img.working_dir.unwrap_or_else(|| "/".into()),
        files: img.files.into_iter().collect(),
        links: img.links.into_iter().collect(),
        warning,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn the_built_in_catalog_reads_and_has_the_issue_images() {
        let c = parse(CATALOG).unwrap();
        for name in [
            "nginx",
            "kennethreitz/httpbin",
            "mccutchen/go-httpbin",
            "registry.k8s.io/e2e-test-images/agnhost",
            "curlimages/curl",
            "busybox",
            "alpine",
            "ubuntu",
            "debian",
            "seantywork/ubuntu24",
            "registry.k8s.io/pause",
        ] {
            assert!(c.contains_key(name), "{name} missing from images.yaml");
        }
    }

    #[test]
    fn names_are_normalised() {
        assert_eq!(normalise("docker.io/library/nginx:1.27"), "nginx");
        assert_eq!(normalise("nginx@sha256:abcd"), "nginx");
        assert_eq!(normalise("library/nginx:latest@sha256:ab"), "nginx");
        assert_eq!(normalise("docker.io/seantywork/ubuntu24"), "seantywork/ubuntu24");
        assert_eq!(normalise("registry.k8s.io/pause:3.10"), "registry.k8s.io/pause");
        assert_eq!(
            normalise("registry.k8s.io/e2e-test-images/agnhost:2.52"),
            "registry.k8s.io/e2e-test-images/agnhost"
        );
        assert_eq!(normalise("localhost:5000/app"), "localhost:5000/app");
    }

    #[test]
    fn command_and_args_follow_the_kubernetes_rules() {
        let c =
            parse("x:\n  entrypoint: [ep]\n  cmd: [c1, c2]\n  env: {A: '1'}\n  workingDir: /w\n").unwrap();
        let run = |cmd: &[&str], args: &[&str]| launch(&c, "x:1", &v(cmd), &v(args)).argv.unwrap();
        assert_eq!(run(&[], &[]), v(&["ep", "c1", "c2"]));
        assert_eq!(run(&[], &["a"]), v(&["ep", "a"]));
        assert_eq!(run(&["p"], &[]), v(&["p"]));
        assert_eq!(run(&["p"], &["a"]), v(&["p", "a"]));
        let l = launch(&c, "x", &[], &[]);
        assert_eq!(
            (l.env, l.working_dir.as_str()),
            (vec![("A".into(), "1".into())], "/w")
        );
        assert!(l.warning.is_none());
    }

    #[test]
    fn unknown_images_idle_with_a_warning_unless_given_a_command() {
        let c = catalog();
        let l = launch(c, "example.com/app:2", &[], &[]);
        assert_eq!(l.argv, None);
        let w = l.warning.unwrap();
        assert!(w.contains("example.com/app:2") && w.contains("command"), "{w}");
        let l = launch(c, "example.com/app", &v(&["sleep", "1"]), &[]);
        assert_eq!((l.argv, l.warning), (Some(v(&["sleep", "1"])), None));
        // The pause image idles without a warning.
        let l = launch(c, "registry.k8s.io/pause:3.10", &[], &[]);
        assert_eq!((l.argv, l.warning), (None, None));
    }

    #[test]
    fn bad_catalog_entries_are_named() {
        let e = parse("x:\n  files: {etc/a: b}\n").unwrap_err();
        assert!(
            format!("{e:#}").contains("x: files/links path \"etc/a\""),
            "{e:#}"
        );
        let e = parse("x:\n  comand: [a]\n").unwrap_err();
        assert!(format!("{e:#}").contains("comand"), "{e:#}");
    }
}
