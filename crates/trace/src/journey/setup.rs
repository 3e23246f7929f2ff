//! Getting a lab ready for the journey: bring it up (or use a running one),
//! label the workers, apply the journey manifests shipped with the project,
//! wait for both pods, and start `nc -l 0.0.0.0 9999` in the wrk-2 pod.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use labyrinth_contracts::modes::{Datapath, Routing};
use labyrinth_contracts::store::StoreKind;

/// The journey's manifests, the repository's examples/journey.
pub const MANIFESTS: [(&str, &str, &str); 2] = [
    (
        "wrk-1",
        "node-1",
        include_str!("../../../../examples/journey/wrk-1.yaml"),
    ),
    (
        "wrk-2",
        "node-2",
        include_str!("../../../../examples/journey/wrk-2.yaml"),
    ),
];

/// Our own binary, run as a child for each step (as a user would type it).
pub struct Labyrinth {
    pub exe: PathBuf,
    pub lab: String,
}

impl Labyrinth {
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.exe);
        c.args(args).stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Result<String> {
        let mut c = self.command(args);
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        if stdin.is_some() {
            c.stdin(Stdio::piped());
        }
        let mut child = c.spawn()?;
        if let Some(text) = stdin {
            child.stdin.take().context("stdin")?.write_all(text.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!(
                "`labyrinth {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Result<String> {
        let mut a = vec!["kubectl", "--name", &self.lab];
        a.extend_from_slice(args);
        self.run(&a, stdin)
    }

    /// Whether a lab of this name is up.
    pub fn running(&self) -> bool {
        labyrinth_lab::LabDir::new(&self.lab)
            .load()
            .is_ok_and(|s| s.running())
    }

    /// The running lab's datapath and routing, checked against the ones
    /// asked for (and its store): a journey on a lab of another datapath
    /// would show that datapath, not the one asked for, so it is refused
    /// with what to do.
    pub fn modes_match(
        &self,
        datapath: Option<Datapath>,
        routing: Option<Routing>,
        store: Option<StoreKind>,
    ) -> Result<(Datapath, Routing)> {
        let state = labyrinth_lab::LabDir::new(&self.lab).load()?;
        let (has_d, has_r) = (state.config.datapath, state.config.routing);
        let has_s = state.config.store;
        let lab = &self.lab;
        if let Some(d) = datapath.filter(|d| *d != has_d) {
            bail!(
                "the running lab {lab} has the {has_d} datapath, not {d}: leave out --datapath \
                 (or pass --datapath {has_d}) to take the journey on it, or take it down first \
                 (labyrinth lab down --name {lab}) and the journey brings up a {d} lab"
            );
        }
        if let Some(r) = routing.filter(|r| *r != has_r) {
            bail!(
                "the running lab {lab} has {has_r} routing, not {r}: leave out --routing \
                 (or pass --routing {has_r}) to take the journey on it, or take it down first \
                 (labyrinth lab down --name {lab}) and the journey brings up a lab with {r} routing"
            );
        }
        if let Some(st) = store.filter(|st| *st != has_s) {
            bail!(
                "the running lab {lab} keeps its objects in the {has_s} store, not {st}: leave out \
                 --store (or pass --store {has_s}) to take the journey on it, or take it down first \
                 (labyrinth lab down --name {lab}) and the journey brings up a lab on {st}"
            );
        }
        Ok((has_d, has_r))
    }

    /// `lab up` with the journey's choices; progress goes to our stderr.
    pub fn up(&self, datapath: Datapath, routing: Routing, store: StoreKind) -> Result<()> {
        let status = self
            .command(&[
                "lab",
                "up",
                "--name",
                &self.lab,
                "--datapath",
                datapath.as_str(),
                "--routing",
                routing.as_str(),
                "--store",
                store.as_str(),
            ])
            // Its summary too: our stdout is the journey (text or JSON).
            .stdout(std::process::Stdio::from(std::io::stderr()))
            .status()?;
        if !status.success() {
            bail!("`labyrinth lab up --name {}` failed", self.lab);
        }
        Ok(())
    }

    pub fn down(&self) -> Result<()> {
        self.run(&["lab", "down", "--name", &self.lab], None).map(|_| ())
    }
}

/// Label the workers, apply both manifests, wait for the pods; returns
/// (client pod, server pod) names.
pub fn apply(l: &Labyrinth) -> Result<(String, String)> {
    let mut pods = Vec::new();
    for (ns, node, manifest) in MANIFESTS {
        l.kubectl(
            &[
                "label",
                "node",
                node,
                &format!("nodelabel=node-{ns}"),
                "--overwrite",
            ],
            None,
        )?;
        let namespace = format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n");
        l.kubectl(&["apply", "-f", "-"], Some(&namespace))?;
        l.kubectl(&["-n", ns, "apply", "-f", "-"], Some(manifest))?;
    }
    for (ns, _, _) in MANIFESTS {
        let selector = format!("app=node-{ns}-ubuntu24");
        let deadline = Instant::now() + Duration::from_secs(120);
        let name = loop {
            let n = l.kubectl(
                &[
                    "-n",
                    ns,
                    "get",
                    "pods",
                    "-l",
                    &selector,
                    "-o",
                    "jsonpath={.items[0].metadata.name}",
                ],
                None,
            );
            match n {
                Ok(n) if !n.is_empty() => break n,
                _ if Instant::now() > deadline => bail!("no pod for {selector} in {ns} after 120 s"),
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        };
        l.kubectl(
            &[
                "-n",
                ns,
                "wait",
                "--for=condition=Ready",
                &format!("pod/{name}"),
                "--timeout=120s",
            ],
            None,
        )?;
        pods.push(name);
    }
    Ok((pods.remove(0), pods.remove(0)))
}

/// `nc -l 0.0.0.0 9999` in the server pod, its output (the line) piped to
/// us; returns once the socket is listening.
pub fn listen(l: &Labyrinth, server: &str) -> Result<Child> {
    let child = l
        .command(&[
            "exec", "--name", &l.lab, "-n", "wrk-2", server, "--", "timeout", "60", "nc", "-l", "0.0.0.0",
            "9999",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ss = l.run(
            &[
                "exec",
                "--name",
                &l.lab,
                "-n",
                "wrk-2",
                server,
                "--",
                "ss",
                "-Hltn",
                "sport = :9999",
            ],
            None,
        );
        if ss.is_ok_and(|s| !s.is_empty()) {
            return Ok(child);
        }
        if Instant::now() > deadline {
            bail!("nc -l in wrk-2/{server} is not listening after 20 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What the listener received, once it has exited (bounded).
pub fn received(mut child: Child) -> String {
    use std::io::Read;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if child.try_wait().ok().flatten().is_none() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = child.wait();
    }
    let mut out = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    out.trim().to_string()
}
