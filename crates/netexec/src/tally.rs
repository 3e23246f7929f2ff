//! What `dial` counts: who answered how often, which errors, how many
//! distinct source ports carried the tries; and the report it prints.

use std::collections::{BTreeMap, BTreeSet};
use std::io;

use serde::Serialize;

use crate::chisquare::{uniform_test, Uniformity};

/// The outcome of one try.
pub type Outcome = Result<String, io::Error>;

#[derive(Debug, Default)]
pub struct Tally {
    answers: BTreeMap<String, u64>,
    errors: BTreeMap<String, u64>,
    ports: BTreeSet<u16>,
}

/// What `dial` prints, as JSON.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub target: String,
    pub protocol: String,
    pub tries: u64,
    /// Answer (the backend's hostname) → how many tries it answered.
    pub answers: BTreeMap<String, u64>,
    /// Error kind → how many tries failed so.
    pub errors: BTreeMap<String, u64>,
    /// Distinct local ports the tries went from (one flow each).
    pub source_ports: usize,
    /// Chi-square against an even spread over the backends (those that
    /// answered, or `--backends` of them counting the silent ones as zero).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uniform: Option<Uniformity>,
}

impl Tally {
    /// Whether this local port was used by an earlier try.
    pub fn port_used(&self, port: u16) -> bool {
        self.ports.contains(&port)
    }

    pub fn record(&mut self, port: Option<u16>, outcome: Outcome) {
        if let Some(p) = port {
            self.ports.insert(p);
        }
        match outcome {
            Ok(answer) => *self.answers.entry(answer).or_default() += 1,
            Err(e) => *self.errors.entry(error_kind(&e)).or_default() += 1,
        }
    }

    pub fn answered(&self) -> u64 {
        self.answers.values().sum()
    }

    pub fn report(self, target: String, protocol: &str, backends: Option<usize>) -> Report {
        let mut counts: Vec<u64> = self.answers.values().copied().collect();
        if let Some(n) = backends {
            counts.resize(n.max(counts.len()), 0);
        }
        Report {
            target,
            protocol: protocol.to_string(),
            tries: self.answered() + self.errors.values().sum::<u64>(),
            uniform: uniform_test(&counts),
            answers: self.answers,
            errors: self.errors,
            source_ports: self.ports.len(),
        }
    }
}

/// A short name for an error, stable across tries so they add up:
/// "timeout", "refused", "reset", "unreachable", "empty answer", or the
/// kind's own name.
pub fn error_kind(e: &io::Error) -> String {
    use io::ErrorKind::*;
    match e.kind() {
        WouldBlock | TimedOut => "timeout".into(),
        ConnectionRefused => "refused".into(),
        ConnectionReset | ConnectionAborted => "reset".into(),
        HostUnreachable | NetworkUnreachable => "unreachable".into(),
        UnexpectedEof => "empty answer".into(),
        _ => match e.raw_os_error() {
            Some(libc_code) => format!("os error {libc_code}"),
            None => format!("{:?}", e.kind()).to_lowercase(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(kind: io::ErrorKind) -> Outcome {
        Err(io::Error::from(kind))
    }

    #[test]
    fn counts_answers_errors_and_ports() {
        let mut t = Tally::default();
        t.record(Some(40000), Ok("pod-a".into()));
        t.record(Some(40001), Ok("pod-b".into()));
        t.record(Some(40002), Ok("pod-a".into()));
        t.record(Some(40002), err(io::ErrorKind::WouldBlock));
        t.record(None, err(io::ErrorKind::ConnectionRefused));
        assert!(t.port_used(40001) && !t.port_used(40003));
        assert_eq!(t.answered(), 3);
        let r = t.report("10.96.0.20:8080".into(), "udp", None);
        assert_eq!(r.tries, 5);
        assert_eq!(
            r.answers,
            BTreeMap::from([("pod-a".into(), 2), ("pod-b".into(), 1)])
        );
        assert_eq!(
            r.errors,
            BTreeMap::from([("refused".into(), 1), ("timeout".into(), 1)])
        );
        assert_eq!(r.source_ports, 3);
        assert_eq!(r.uniform.unwrap().categories, 2);
    }

    #[test]
    fn silent_backends_count_as_zero() {
        let mut t = Tally::default();
        for i in 0..20 {
            t.record(Some(i), Ok(format!("pod-{}", i % 2)));
        }
        let r = t.report("svc:80".into(), "tcp", Some(3));
        let u = r.uniform.unwrap();
        assert_eq!(u.categories, 3);
        assert!(u.p_value < 0.05, "{u:?}");
        // Fewer expected than answered: the answers are what counts.
        let mut t = Tally::default();
        t.record(Some(1), Ok("a".into()));
        t.record(Some(2), Ok("b".into()));
        assert_eq!(
            t.report("x:1".into(), "tcp", Some(1)).uniform.unwrap().categories,
            2
        );
    }

    #[test]
    fn the_report_reads_as_json() {
        let mut t = Tally::default();
        t.record(Some(1), Ok("a".into()));
        let json = serde_json::to_value(t.report("x:1".into(), "tcp", None)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"target": "x:1", "protocol": "tcp", "tries": 1,
                "answers": {"a": 1}, "errors": {}, "sourcePorts": 1})
        );
    }

    #[test]
    fn error_kinds_are_short_and_stable() {
        let kind = |k| error_kind(&io::Error::from(k));
        assert_eq!(kind(io::ErrorKind::TimedOut), "timeout");
        assert_eq!(kind(io::ErrorKind::ConnectionReset), "reset");
        assert_eq!(kind(io::ErrorKind::UnexpectedEof), "empty answer");
        assert_eq!(error_kind(&io::Error::from_raw_os_error(113)), "unreachable");
        assert_eq!(kind(io::ErrorKind::InvalidData), "invaliddata");
    }
}
