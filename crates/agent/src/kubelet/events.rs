//! The Events the kubelet role records about its pods (Pulled, Created,
//! Started, BackOff, Killing…), through the one recorder every component
//! uses (`labyrinth_contracts::recorder`); the agent's log says them too.

use k8s_openapi::api::core::v1::ObjectReference;
use labyrinth_contracts::events::{EventType, Reason};
use labyrinth_contracts::recorder::Recorder;

use crate::runtime::images;
use crate::runtime::{ContainerSpec, PodRef};

/// Record `reason` about `pod` (and its container, when one is named).
pub fn emit(
    events: &std::sync::Arc<Recorder>,
    pod: &PodRef,
    container: Option<&str>,
    reason: Reason,
    message: String,
) {
    match reason.event_type() {
        EventType::Warning => tracing::warn!(pod = %pod.label(), reason = reason.as_str(), "{message}"),
        EventType::Normal => tracing::info!(pod = %pod.label(), reason = reason.as_str(), "{message}"),
    }
    let about = ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        namespace: Some(pod.namespace.clone()),
        name: Some(pod.name.clone()),
        uid: Some(pod.uid.clone()),
        // As the kubelet points at one container of the pod.
        field_path: container.map(|c| format!("spec.containers{{{c}}}")),
        ..Default::default()
    };
    events.record(about, reason, message);
}

/// A container's start, as the kubelet reports it: the image (present, as
/// nothing is pulled here, or not in the catalog), then Created and
/// Started, or Failed with the error.
pub fn container_start(
    events: &std::sync::Arc<Recorder>,
    pod: &PodRef,
    spec: &ContainerSpec,
    result: Result<(), String>,
) {
    let c = Some(spec.name.as_str());
    let launch = images::launch(images::catalog(), &spec.image, &spec.command, &spec.args);
    match launch.warning {
        Some(w) => emit(events, pod, c, Reason::ImageNotInCatalog, w),
        None => emit(
            events,
            pod,
            c,
            Reason::Pulled,
            format!("Container image {:?} already present on machine", spec.image),
        ),
    }
    match result {
        Ok(()) => {
            emit(
                events,
                pod,
                c,
                Reason::Created,
                format!("Created container: {}", spec.name),
            );
            emit(
                events,
                pod,
                c,
                Reason::Started,
                format!("Started container {}", spec.name),
            );
        }
        Err(e) => emit(events, pod, c, Reason::Failed, format!("Error: {e}")),
    }
}
