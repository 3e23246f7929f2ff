//! What the subcommands share: the hostname they answer with and the Go
//! durations their flags take. Apart from `mod.rs` so the subcommands do
//! not import the module that dispatches to them.

use std::time::Duration;

use anyhow::{bail, Context, Result};

/// This machine's hostname (the pod's name in a pod).
pub fn hostname() -> Result<String> {
    Ok(nix::unistd::gethostname()
        .context("reading the hostname")?
        .to_string_lossy()
        .into_owned())
}

/// A Go duration as the upstream flags take it: "5s", "500ms", "1m30s", "0".
pub fn parse_duration(s: &str) -> Result<Duration> {
    let s = s.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let n_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .with_context(|| format!("duration {s:?}: missing unit (ns, us, ms, s, m, h)"))?;
        let n: f64 = rest[..n_end]
            .parse()
            .with_context(|| format!("duration {s:?}: bad number"))?;
        rest = &rest[n_end..];
        let u_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..u_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            u => bail!("duration {s:?}: unknown unit {u:?}"),
        };
        rest = &rest[u_end..];
        total += Duration::from_secs_f64(n * unit);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert!(format!("{:#}", parse_duration("5").unwrap_err()).contains("missing unit"));
        assert!(format!("{:#}", parse_duration("5x").unwrap_err()).contains("unknown unit"));
    }
}
