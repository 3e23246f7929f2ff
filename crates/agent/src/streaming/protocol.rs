//! The remote-command channel protocol (`v5.channel.k8s.io`, and v4 which
//! lacks only the stdin close): every websocket message is binary, its first
//! byte names the channel and the rest is that channel's data. The exec's
//! outcome travels as a metav1.Status on the error channel, and the client
//! reads the exit code out of it.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::{json, Value};

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const ERROR: u8 = 3;
pub const RESIZE: u8 = 4;
/// v5: "this stream is finished" (the data byte names the stream).
pub const CLOSE: u8 = 255;

/// Subprotocols we speak, in order of preference.
pub const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

/// One message from the client, decoded.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    Stdin(Vec<u8>),
    /// The client half-closed a stream (stdin, in practice).
    Close(u8),
    Resize(Vec<TermSize>),
    /// A channel the client may not write to (or an empty message).
    Ignored,
}

/// A terminal size as the client sends it on the resize channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct TermSize {
    #[serde(rename = "Width")]
    pub width: u16,
    #[serde(rename = "Height")]
    pub height: u16,
}

/// Frame `data` for `channel`.
pub fn frame(channel: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 1);
    out.push(channel);
    out.extend_from_slice(data);
    out
}

/// Decode one binary message from the client.
pub fn parse(msg: &[u8]) -> Result<Incoming> {
    let Some((&channel, data)) = msg.split_first() else {
        return Ok(Incoming::Ignored);
    };
    Ok(match channel {
        STDIN => Incoming::Stdin(data.to_vec()),
        CLOSE => match data {
            [stream] => Incoming::Close(*stream),
            _ => bail!(
                "close message carries {} bytes, want 1 (the stream id)",
                data.len()
            ),
        },
        RESIZE => {
            // Each resize is one JSON object; tolerate several in a message.
            let sizes = serde_json::Deserializer::from_slice(data)
                .into_iter::<TermSize>()
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("resize message {:?}", String::from_utf8_lossy(data)))?;
            Incoming::Resize(sizes)
        }
        _ => Incoming::Ignored,
    })
}

/// How the command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Exit code (a death by signal n is reported as 128 + n, as shells do).
    Exited(i32),
    /// It could not be run at all.
    Failed(String),
}

/// The metav1.Status written on the error channel at the end.
pub fn status(outcome: &Outcome) -> Value {
    match outcome {
        Outcome::Exited(0) => {
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})
        }
        Outcome::Exited(code) => json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure",
            "message": format!("command terminated with non-zero exit code: exit status {code}"),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
        }),
        Outcome::Failed(why) => json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure",
            "message": format!("error executing command in container: {why}"),
            "reason": "InternalError",
            "code": 500,
        }),
    }
}

/// A metav1.Status for a request refused before the upgrade.
pub fn refusal(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code})
}

/// What the exec request asks for (its query string).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOptions {
    pub command: Vec<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

fn flag(key: &str, v: &str) -> Result<bool> {
    match v {
        "true" | "1" | "True" | "TRUE" => Ok(true),
        "false" | "0" | "False" | "FALSE" | "" => Ok(false),
        other => bail!("query parameter {key}={other:?} is not a boolean"),
    }
}

impl ExecOptions {
    /// From the query pairs (`command` repeats, one argument each).
    pub fn from_query(pairs: &[(String, String)]) -> Result<ExecOptions> {
        let mut o = ExecOptions::default();
        for (k, v) in pairs {
            match k.as_str() {
                "command" => o.command.push(v.clone()),
                "stdin" | "input" => o.stdin = flag(k, v)?,
                "stdout" | "output" => o.stdout = flag(k, v)?,
                "stderr" | "error" => o.stderr = flag(k, v)?,
                "tty" => o.tty = flag(k, v)?,
                _ => {}
            }
        }
        if o.command.is_empty() {
            bail!("you must specify at least 1 command");
        }
        if !(o.stdin || o.stdout || o.stderr) {
            bail!("you must specify at least 1 of stdin, stdout, stderr");
        }
        if o.tty && o.stderr {
            // A terminal has one output; stderr goes to it.
            bail!("stderr=true cannot be combined with tty=true");
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn frames_carry_the_channel_first() {
        assert_eq!(frame(STDOUT, b"out\n"), b"\x01out\n");
        assert_eq!(frame(ERROR, b""), vec![3]);
    }

    #[test]
    fn client_messages_decode() {
        assert_eq!(parse(b"\x00abc").unwrap(), Incoming::Stdin(b"abc".to_vec()));
        assert_eq!(parse(&[255, 0]).unwrap(), Incoming::Close(STDIN));
        assert!(parse(&[255]).is_err());
        assert_eq!(
            parse(b"\x04{\"Width\":100,\"Height\":30}\n").unwrap(),
            Incoming::Resize(vec![TermSize {
                width: 100,
                height: 30
            }])
        );
        assert_eq!(
            parse(b"\x04{\"Width\":1,\"Height\":2}{\"Width\":3,\"Height\":4}").unwrap(),
            Incoming::Resize(vec![
                TermSize { width: 1, height: 2 },
                TermSize { width: 3, height: 4 }
            ])
        );
        let bad = parse(b"\x04{\"Width\":\"wide\"}").unwrap_err();
        assert!(format!("{bad:#}").contains("resize message"), "{bad:#}");
        // Clients may not write stdout; an empty message is nothing.
        assert_eq!(parse(b"\x01x").unwrap(), Incoming::Ignored);
        assert_eq!(parse(b"").unwrap(), Incoming::Ignored);
    }

    #[test]
    fn exit_codes_become_statuses_kubectl_reads() {
        let ok = status(&Outcome::Exited(0));
        assert_eq!(ok["status"], "Success");
        assert!(ok.get("details").is_none());
        let three = status(&Outcome::Exited(3));
        assert_eq!(three["status"], "Failure");
        assert_eq!(three["reason"], "NonZeroExitCode");
        assert_eq!(
            three["details"]["causes"],
            json!([{"reason": "ExitCode", "message": "3"}])
        );
        let failed = status(&Outcome::Failed("no such file".into()));
        assert_eq!(failed["reason"], "InternalError");
        assert!(failed["message"].as_str().unwrap().contains("no such file"));
    }

    #[test]
    fn query_options() {
        let o = ExecOptions::from_query(&pairs(&[
            ("command", "sh"),
            ("command", "-c"),
            ("command", "echo a b"),
            ("stdin", "true"),
            ("stdout", "true"),
            ("tty", "true"),
            ("container", "main"),
        ]))
        .unwrap();
        assert_eq!(o.command, ["sh", "-c", "echo a b"]);
        assert!(o.stdin && o.stdout && o.tty && !o.stderr);
        let err = |p: &[(&str, &str)]| format!("{:#}", ExecOptions::from_query(&pairs(p)).unwrap_err());
        assert!(err(&[("stdout", "true")]).contains("at least 1 command"));
        assert!(err(&[("command", "ls")]).contains("at least 1 of stdin"));
        assert!(err(&[("command", "ls"), ("stdout", "yes")]).contains("stdout=\"yes\""));
        assert!(err(&[("command", "ls"), ("stderr", "1"), ("tty", "1")]).contains("tty"));
    }
}
