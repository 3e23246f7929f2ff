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
    /// The node has the container's image (from the catalog: nothing is
    /// pulled, as with `imagePullPolicy: IfNotPresent` and a cached image).
    Pulled,
    /// The image is not in the node's catalog: the container idles.
    ImageNotInCatalog,
    /// A container's process was made.
    Created,
    /// A container's process started.
    Started,
    /// A container could not be started.
    Failed,
    /// A container is being stopped (pod deletion).
    Killing,
    /// A container that keeps ending waits before its next restart.
    BackOff,
    /// A preStop hook failed.
    FailedPreStopHook,
    /// A pod's volume could not be made: its containers wait.
    FailedMount,
    /// A probe failed (liveness, readiness or startup).
    Unhealthy,
    /// A LoadBalancer Service got an address from the pool (MetalLB's word).
    IPAllocated,
    /// A LoadBalancer Service could not get one: it stays pending.
    AllocationFailed,
    /// A node refused a pod's sysctl (not safe, not allowed there): the pod
    /// fails without starting, as the kubelet's admission fails it.
    SysctlForbidden,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Scheduled => "Scheduled",
            Reason::FailedScheduling => "FailedScheduling",
            Reason::SuccessfulCreate => "SuccessfulCreate",
            Reason::SuccessfulDelete => "SuccessfulDelete",
            Reason::ScalingReplicaSet => "ScalingReplicaSet",
            Reason::Pulled => "Pulled",
            Reason::ImageNotInCatalog => "ImageNotInCatalog",
            Reason::Created => "Created",
            Reason::Started => "Started",
            Reason::Failed => "Failed",
            Reason::Killing => "Killing",
            Reason::BackOff => "BackOff",
            Reason::FailedPreStopHook => "FailedPreStopHook",
            Reason::FailedMount => "FailedMount",
            Reason::Unhealthy => "Unhealthy",
            Reason::IPAllocated => "IPAllocated",
            Reason::AllocationFailed => "AllocationFailed",
            Reason::SysctlForbidden => "SysctlForbidden",
        }
    }
    pub fn event_type(self) -> EventType {
        match self {
            Reason::FailedScheduling
            | Reason::ImageNotInCatalog
            | Reason::Failed
            | Reason::BackOff
            | Reason::FailedPreStopHook
            | Reason::FailedMount
            | Reason::Unhealthy
            | Reason::AllocationFailed
            | Reason::SysctlForbidden => EventType::Warning,
            _ => EventType::Normal,
        }
    }
}

/// The `source.component` of what each controller records.
pub const SCHEDULER: &str = "default-scheduler";
pub const REPLICASET_CONTROLLER: &str = "replicaset-controller";
pub const DEPLOYMENT_CONTROLLER: &str = "deployment-controller";
pub const DAEMONSET_CONTROLLER: &str = "daemonset-controller";
pub const JOB_CONTROLLER: &str = "job-controller";
/// What node agents record about their pods (the kubelet's name).
pub const KUBELET: &str = "kubelet";
/// What the LoadBalancer address controller records (the lab's "cloud").
pub const LOADBALANCER_CONTROLLER: &str = "service-lb-controller";
