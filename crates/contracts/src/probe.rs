//! A container's probes as the Pod spec spells them (livenessProbe,
//! readinessProbe, startupProbe) and its named ports, decoded with the slim
//! Pod (`super::pod`) for the node agent, which runs them. The defaults are
//! the kubelet's, applied where the fields are read (`Probe::timing`).

use serde::Deserialize;

/// A port as a probe names it: a number, or the name of one of the
/// container's ports (an IntOrString in the API).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum PortRef {
    Number(i32),
    Name(String),
}

/// A command run in the container (a probe's or a lifecycle hook's).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct ExecAction {
    #[serde(default)]
    pub command: Vec<String>,
}

/// One of the container's `ports`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    pub name: Option<String>,
    pub container_port: i32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct HttpHeader {
    pub name: String,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpGetAction {
    /// Defaults to the pod's IP, as the kubelet's.
    pub host: Option<String>,
    pub path: Option<String>,
    pub port: PortRef,
    pub scheme: Option<String>,
    #[serde(default)]
    pub http_headers: Vec<HttpHeader>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct TcpSocketAction {
    pub host: Option<String>,
    pub port: PortRef,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Probe {
    pub exec: Option<ExecAction>,
    pub http_get: Option<HttpGetAction>,
    pub tcp_socket: Option<TcpSocketAction>,
    pub initial_delay_seconds: Option<i32>,
    pub period_seconds: Option<i32>,
    pub timeout_seconds: Option<i32>,
    pub success_threshold: Option<i32>,
    pub failure_threshold: Option<i32>,
}

/// A probe's timing with the kubelet's defaults filled in (seconds and
/// counts; never below the API's minimum of 1, 0 for the delay).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    pub initial_delay: u32,
    pub period: u32,
    pub timeout: u32,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

impl Probe {
    pub fn timing(&self) -> Timing {
        let at_least = |v: Option<i32>, default: i32, min: i32| v.unwrap_or(default).max(min) as u32;
        Timing {
            initial_delay: at_least(self.initial_delay_seconds, 0, 0),
            period: at_least(self.period_seconds, 10, 1),
            timeout: at_least(self.timeout_seconds, 1, 1),
            success_threshold: at_least(self.success_threshold, 1, 1),
            failure_threshold: at_least(self.failure_threshold, 3, 1),
        }
    }
}
