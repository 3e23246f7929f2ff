//! The Job controller's logic, free of API calls: from a Job and the pods it
//! controls, how many pods to start, which to delete, and the status with
//! its conditions (SuccessCriteriaMet then Complete; FailureTarget then
//! Failed once the backoff limit is passed, as Kubernetes 1.33 reports them).

pub mod sync;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::ObjectMeta;
use kube::ResourceExt;

use crate::names::generated_name;
use crate::podutil::controller_ref;

/// A new pod from the Job's template (whose labels the API server has
/// filled with the job-name and controller-uid labels).
pub fn new_pod(job: &Job) -> Pod {
    let name = job.name_any();
    let template = job.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default();
    let tmeta = template.metadata.unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            name: Some(generated_name(&name)),
            generate_name: Some(format!("{name}-")),
            namespace: job.namespace(),
            labels: tmeta.labels,
            annotations: tmeta.annotations,
            owner_references: Some(vec![controller_ref(job)]),
            ..Default::default()
        },
        spec: template.spec,
        status: None,
    }
}
