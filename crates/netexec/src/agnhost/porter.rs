//! `agnhost porter`: for each `SERVE_PORT_<N>=<text>` in the environment,
//! HTTP on port N answering `text` to every request.

use std::net::TcpListener;
use std::sync::Arc;

use anyhow::{bail, Context, Result};

const PREFIX: &str = "SERVE_PORT_";

pub fn run() -> Result<i32> {
    let ports = ports(std::env::vars())?;
    if ports.is_empty() {
        bail!("no {PREFIX}<port>=<text> in the environment: nothing to serve");
    }
    let mut threads = Vec::new();
    for (port, text) in ports {
        let l = TcpListener::bind(("0.0.0.0", port)).with_context(|| format!("listening on port {port}"))?;
        eprintln!("porter: {text:?} on port {port}");
        threads.push(std::thread::spawn(move || {
            super::http::serve(
                l,
                Arc::new(move |_| (200, "text/plain; charset=utf-8", text.clone())),
            )
        }));
    }
    for t in threads {
        let _ = t.join();
    }
    Ok(1)
}

/// The (port, text) pairs the environment asks for.
pub fn ports(vars: impl Iterator<Item = (String, String)>) -> Result<Vec<(u16, String)>> {
    vars.filter_map(|(k, v)| k.strip_prefix(PREFIX).map(|p| (p.to_string(), v)))
        .map(|(p, v)| {
            let port = p
                .parse()
                .with_context(|| format!("{PREFIX}{p}: {p:?} is not a port"))?;
            Ok((port, v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ports_come_from_the_environment() {
        let env = [
            ("SERVE_PORT_80".to_string(), "foo".to_string()),
            ("HOME".into(), "/".into()),
        ];
        assert_eq!(
            super::ports(env.into_iter()).unwrap(),
            vec![(80, "foo".to_string())]
        );
        let bad = [("SERVE_PORT_x".to_string(), "foo".to_string())];
        assert!(format!("{:#}", super::ports(bad.into_iter()).unwrap_err()).contains("SERVE_PORT_x"));
    }
}
