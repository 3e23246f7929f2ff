//! The Events components record: each reason with its type (Normal or
//! Warning) as the real components spell them, so `kubectl get events` and
//! anything filtering on reasons (`--field-selector reason=…`) see the same
//! words whichever component wrote them.

/// Normal or Warning, the two types the API knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// Why an event was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The scheduler bound a pod to a node.
    Scheduled,
    /// No node fits a pod.
    FailedScheduling,
    /// A ReplicaSet created a pod.
    SuccessfulCreate,
    /// A ReplicaSet deleted a pod.
    SuccessfulDelete,
    /// A Deployment scaled one of its ReplicaSets.
    ScalingReplicaSet,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Scheduled => "Scheduled",
            Reason::FailedScheduling => "FailedScheduling",
            Reason::SuccessfulCreate => "SuccessfulCreate",
            Reason::SuccessfulDelete => "SuccessfulDelete",
            Reason::ScalingReplicaSet => "ScalingReplicaSet",
        }
    }
    pub fn event_type(self) -> EventType {
        match self {
            Reason::FailedScheduling => EventType::Warning,
            _ => EventType::Normal,
        }
    }
}

/// The `source.component` of what each controller records.
pub const SCHEDULER: &str = "default-scheduler";
pub const REPLICASET_CONTROLLER: &str = "replicaset-controller";
pub const DEPLOYMENT_CONTROLLER: &str = "deployment-controller";
