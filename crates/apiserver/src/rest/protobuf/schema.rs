//! Field numbers of the Kubernetes messages kubectl's generators send as
//! protobuf (`kubectl create deployment|service|secret|job|role|…`), from
//! the API's generated.proto. Only what a create needs is listed: a field
//! not listed here that carries a value makes the server refuse the body
//! (415) rather than drop it.

/// How one field maps to JSON.
#[derive(Debug)]
pub enum Kind {
    /// A string; empty means unset (a non-pointer Go string).
    Str,
    /// A `*string`: kept even when empty.
    StrP,
    /// An int32/int64; zero means unset.
    Int,
    /// A `*int32`/`*int64`: zero is a value (`replicas: 0`).
    IntP,
    Bool,
    BoolP,
    Msg(&'static Message),
    RepStr,
    /// A repeated int64: one varint per value, or packed in one field.
    RepInt,
    RepMsg(&'static Message),
    /// map<string, string>
    MapStr,
    /// map<string, bytes>, base64 in JSON (Secret.data).
    MapBytes,
    /// map<string, Quantity> (resources).
    MapQuantity,
    IntOrStr,
    /// Set by the server, never by a create (status, timestamps,
    /// managedFields): ignored.
    Skip,
    /// An embedded message whose fields JSON has inline (a Volume's
    /// VolumeSource).
    Inline(&'static Message),
}

#[derive(Debug)]
pub struct Field {
    pub num: u64,
    pub name: &'static str,
    pub kind: Kind,
}

#[derive(Debug)]
pub struct Message {
    pub name: &'static str,
    pub fields: &'static [Field],
}

impl Message {
    pub fn field(&self, num: u64) -> Option<&Field> {
        self.fields.iter().find(|f| f.num == num)
    }
}

macro_rules! msg {
    ($id:ident, $name:literal, [$(($num:literal, $json:literal, $kind:expr)),* $(,)?]) => {
        pub static $id: Message = Message {
            name: $name,
            fields: &[$(Field { num: $num, name: $json, kind: $kind }),*],
        };
    };
}

use Kind::*;

msg!(
    OWNER_REFERENCE,
    "OwnerReference",
    [
        (1, "kind", Str),
        (3, "name", Str),
        (4, "uid", Str),
        (5, "apiVersion", Str),
        (6, "controller", BoolP),
        (7, "blockOwnerDeletion", BoolP),
    ]
);
msg!(
    OBJECT_META,
    "ObjectMeta",
    [
        (1, "name", Str),
        (2, "generateName", Str),
        (3, "namespace", Str),
        (4, "selfLink", Skip),
        (5, "uid", Skip),
        (6, "resourceVersion", Str),
        (7, "generation", Skip),
        (8, "creationTimestamp", Skip),
        (9, "deletionTimestamp", Skip),
        (10, "deletionGracePeriodSeconds", Skip),
        (11, "labels", MapStr),
        (12, "annotations", MapStr),
        (13, "ownerReferences", RepMsg(&OWNER_REFERENCE)),
        (14, "finalizers", RepStr),
        (17, "managedFields", Skip),
    ]
);
msg!(
    LABEL_REQUIREMENT,
    "LabelSelectorRequirement",
    [(1, "key", Str), (2, "operator", Str), (3, "values", RepStr),]
);
msg!(
    LABEL_SELECTOR,
    "LabelSelector",
    [
        (1, "matchLabels", MapStr),
        (2, "matchExpressions", RepMsg(&LABEL_REQUIREMENT)),
    ]
);

// core/v1
msg!(
    CONTAINER_PORT,
    "ContainerPort",
    [
        (1, "name", Str),
        (2, "hostPort", Int),
        (3, "containerPort", Int),
        (4, "protocol", Str),
        (5, "hostIP", Str),
    ]
);
msg!(ENV_VAR, "EnvVar", [(1, "name", Str), (2, "value", Str)]);
msg!(
    RESOURCES,
    "ResourceRequirements",
    [(1, "limits", MapQuantity), (2, "requests", MapQuantity)]
);
msg!(
    VOLUME_MOUNT,
    "VolumeMount",
    [
        (1, "name", Str),
        (2, "readOnly", Bool),
        (3, "mountPath", Str),
        (4, "subPath", Str),
    ]
);
msg!(
    CAPABILITIES,
    "Capabilities",
    [(1, "add", RepStr), (2, "drop", RepStr)]
);
msg!(
    SECCOMP_PROFILE,
    "SeccompProfile",
    [(1, "type", Str), (2, "localhostProfile", StrP)]
);
// What `kubectl debug --profile=…` sets (sysadmin: privileged; netadmin:
// NET_ADMIN and NET_RAW; restricted: no escalation, drop ALL, RuntimeDefault).
msg!(
    SECURITY_CONTEXT,
    "SecurityContext",
    [
        (1, "capabilities", Msg(&CAPABILITIES)),
        (2, "privileged", BoolP),
        (4, "runAsUser", IntP),
        (5, "runAsNonRoot", BoolP),
        (6, "readOnlyRootFilesystem", BoolP),
        (7, "allowPrivilegeEscalation", BoolP),
        (8, "runAsGroup", IntP),
        (9, "procMount", StrP),
        (11, "seccompProfile", Msg(&SECCOMP_PROFILE)),
    ]
);
msg!(SYSCTL, "Sysctl", [(1, "name", Str), (2, "value", Str)]);
msg!(
    POD_SECURITY_CONTEXT,
    "PodSecurityContext",
    [
        (2, "runAsUser", IntP),
        (3, "runAsNonRoot", BoolP),
        (4, "supplementalGroups", RepInt),
        (5, "fsGroup", IntP),
        (6, "runAsGroup", IntP),
        (7, "sysctls", RepMsg(&SYSCTL)),
        (10, "seccompProfile", Msg(&SECCOMP_PROFILE)),
    ]
);
msg!(
    CONTAINER,
    "Container",
    [
        (1, "name", Str),
        (2, "image", Str),
        (3, "command", RepStr),
        (4, "args", RepStr),
        (5, "workingDir", Str),
        (6, "ports", RepMsg(&CONTAINER_PORT)),
        (7, "env", RepMsg(&ENV_VAR)),
        (8, "resources", Msg(&RESOURCES)),
        (9, "volumeMounts", RepMsg(&VOLUME_MOUNT)),
        (13, "terminationMessagePath", Str),
        (14, "imagePullPolicy", Str),
        (15, "securityContext", Msg(&SECURITY_CONTEXT)),
        (16, "stdin", Bool),
        (17, "stdinOnce", Bool),
        (18, "tty", Bool),
        (20, "terminationMessagePolicy", Str),
    ]
);
msg!(
    TOLERATION,
    "Toleration",
    [
        (1, "key", Str),
        (2, "operator", Str),
        (3, "value", Str),
        (4, "effect", Str),
        (5, "tolerationSeconds", IntP),
    ]
);
msg!(
    HOST_PATH,
    "HostPathVolumeSource",
    [(1, "path", Str), (2, "type", StrP)]
);
msg!(EMPTY_DIR, "EmptyDirVolumeSource", [(1, "medium", Str)]);
msg!(
    KEY_TO_PATH,
    "KeyToPath",
    [(1, "key", Str), (2, "path", Str), (3, "mode", IntP)]
);
msg!(
    SECRET_VOLUME,
    "SecretVolumeSource",
    [
        (1, "secretName", Str),
        (2, "items", RepMsg(&KEY_TO_PATH)),
        (3, "defaultMode", IntP),
        (4, "optional", BoolP),
    ]
);
msg!(
    CONFIG_MAP_VOLUME,
    "ConfigMapVolumeSource",
    [
        (1, "localObjectReference", Inline(&LOCAL_OBJECT_REFERENCE)),
        (2, "items", RepMsg(&KEY_TO_PATH)),
        (3, "defaultMode", IntP),
        (4, "optional", BoolP),
    ]
);
msg!(
    VOLUME_SOURCE,
    "VolumeSource",
    [
        (1, "hostPath", Msg(&HOST_PATH)),
        // An empty message is still a value: `emptyDir: {}`.
        (2, "emptyDir", Msg(&EMPTY_DIR)),
        (6, "secret", Msg(&SECRET_VOLUME)),
        (19, "configMap", Msg(&CONFIG_MAP_VOLUME)),
    ]
);
msg!(
    VOLUME,
    "Volume",
    [(1, "name", Str), (2, "volumeSource", Inline(&VOLUME_SOURCE))]
);
msg!(
    POD,
    "Pod",
    [
        (1, "metadata", Msg(&OBJECT_META)),
        (2, "spec", Msg(&POD_SPEC)),
        (3, "status", Skip),
    ]
);
msg!(
    POD_SPEC,
    "PodSpec",
    [
        (1, "volumes", RepMsg(&VOLUME)),
        (2, "containers", RepMsg(&CONTAINER)),
        (3, "restartPolicy", Str),
        (4, "terminationGracePeriodSeconds", IntP),
        (5, "activeDeadlineSeconds", IntP),
        (6, "dnsPolicy", Str),
        (7, "nodeSelector", MapStr),
        (8, "serviceAccountName", Str),
        (9, "serviceAccount", Str),
        (10, "nodeName", Str),
        (11, "hostNetwork", Bool),
        (12, "hostPID", Bool),
        (13, "hostIPC", Bool),
        (14, "securityContext", Msg(&POD_SECURITY_CONTEXT)),
        (16, "hostname", Str),
        (17, "subdomain", Str),
        (19, "schedulerName", Str),
        (20, "initContainers", RepMsg(&CONTAINER)),
        (21, "automountServiceAccountToken", BoolP),
        (22, "tolerations", RepMsg(&TOLERATION)),
        (24, "priorityClassName", Str),
        (25, "priority", IntP),
        (27, "shareProcessNamespace", BoolP),
        (30, "enableServiceLinks", BoolP),
    ]
);
msg!(
    POD_TEMPLATE_SPEC,
    "PodTemplateSpec",
    [(1, "metadata", Msg(&OBJECT_META)), (2, "spec", Msg(&POD_SPEC)),]
);
msg!(NAMESPACE_SPEC, "NamespaceSpec", [(1, "finalizers", RepStr)]);
msg!(
    NAMESPACE,
    "Namespace",
    [
        (1, "metadata", Msg(&OBJECT_META)),
        (2, "spec", Msg(&NAMESPACE_SPEC)),
        (3, "status", Skip),
    ]
);
msg!(
    CONFIG_MAP,
    "ConfigMap",
    [
        (1, "metadata", Msg(&OBJECT_META)),
        (2, "data", MapStr),
        (3, "binaryData", MapBytes),
        (4, "immutable", BoolP),
    ]
);
msg!(
    SECRET,
    "Secret",
    [
        (1, "metadata", Msg(&OBJECT_META)),
        (2, "data", MapBytes),
        (3, "type", Str),
        (4, "stringData", MapStr),
        (5, "immutable", BoolP),
    ]
);
msg!(
    OBJECT_REFERENCE,
    "ObjectReference",
    [
        (1, "kind", Str),
        (2, "namespace", Str),
        (3, "name", Str),
        (4, "uid", Str),
        (5, "apiVersion", Str),
        (6, "resourceVersion", Str),
        (7, "fieldPath", Str),
    ]
);
msg!(LOCAL_OBJECT_REFERENCE, "LocalObjectReference", [(1, "name", Str)]);
// What kube-scheduler POSTs to pods/NAME/binding (protobuf, as client-go
// sends core types).
msg!(
    BINDING,
    "Binding",
    [
        (1, "metadata", Msg(&OBJECT_META)),
        (2, "target", Msg(&OBJECT_REFERENCE)),
    ]
);
msg!(
    SERVICE_ACCOUNT,
    "ServiceAccount",
    [
        (1, "metadata", Msg(&OBJECT_META)),
        (2, "secrets", RepMsg(&OBJECT_REFERENCE)),
        (3, "imagePullSecrets", RepMsg(&LOCAL_OBJECT_REFERENCE)),
        (4, "automountServiceAccountToken", BoolP),
    ]
);
msg!(
    SERVICE_PORT,
    "ServicePort",
    [
        (1, "name", Str),
        (2, "protocol", Str),
        (3, "port", Int),
        (4, "targetPort", IntOrStr),
        (5, "nodePort", Int),
        (6, "appProtocol", StrP),
    ]
);
msg!(
    SERVICE_SPEC,
    "ServiceSpec",
    [
        (1, "ports", RepMsg(&SERVICE_PORT)),
        (2, "selector", MapStr),
        (3, "clusterIP", Str),
        (4, "type", Str),
        (5, "externalIPs", RepStr),
        (7, "sessionAffinity", Str),
        (8, "loadBalancerIP", Str),
        (9, "loadBalancerSourceRanges", RepStr),
        (10, "externalName", Str),
        (11, "externalTrafficPolicy", Str),
        (12, "healthCheckNodePort", Int),
        (13, "publishNotReadyAddresses", Bool),
        (17, "ipFamilyPolicy", StrP),
        (18, "clusterIPs", RepStr),
        (19, "ipFamilies", RepStr),
        (20, "allocateLoadBalancerNodePorts", BoolP),
        (21, "loadBalancerClass", StrP),
        (22, "internalTrafficPolicy", StrP),
    ]
);
msg!(
    SERVICE,
    "Service",
    [
        (1, "metadata", Msg(&OBJECT_META)),
        (2, "spec", Msg(&SERVICE_SPEC)),
        (3, "status", Skip),
    ]
);

// authentication/v1
msg!(
    BOUND_OBJECT_REFERENCE,
    "BoundObjectReference",
    [
        (1, "kind", Str),
        (2, "apiVersion", Str),
        (3, "name", Str),
        (4, "uid", Str),
    ]
);
msg!(
    TOKEN_REQUEST_SPEC,
    "TokenRequestSpec",
    [
        (1, "audiences", RepStr),
        (3, "boundObjectRef", Msg(&BOUND_OBJECT_REFERENCE)),
        (4, "expirationSeconds", IntP),
    ]
);
msg!(
    TOKEN_REQUEST,
    "TokenRequest",
    [
        (1, "metadata", Msg(&OBJECT_META)),
        (2, "spec", Msg(&TOKEN_REQUEST_SPEC)),
        (3, "status", Skip),
    ]
);

// apps/v1
msg!(
    ROLLING_UPDATE_DEPLOYMENT,
    "RollingUpdateDeployment",
    [(1, "maxUnavailable", IntOrStr), (2, "maxSurge", IntOrStr),]
);
msg!(
    DEPLOYMENT_STRATEGY,
    "DeploymentStrategy",
    [
        (1, "type", Str),
        (2, "rollingUpdate", Msg(&ROLLING_UPDATE_DEPLOYMENT)),
    ]
);
msg!(
    DEPLOYMENT_SPEC,
    "DeploymentSpec",
    [
        (1, "replicas", IntP),
        (2, "selector", Msg(&LABEL_SELECTOR)),
        (3, "template", Msg(&POD_TEMPLATE_SPEC)),
        (4, "strategy", Msg(&DEPLOYMENT_STRATEGY)),
        (5, "minReadySeconds", Int),
        (6, "revisionHistoryLimit", IntP),
        (7, "paused", Bool),
        (9, "progressDeadlineSeconds", IntP),
    ]
);
msg!(
    DEPLOYMENT,
    "Deployment",
    [
        (1, "metadata", Msg(&OBJECT_META)),
        (2, "spec", Msg(&DEPLOYMENT_SPEC)),
        (3, "status", Skip),
    ]
);

// batch/v1
msg!(
    JOB_SPEC,
    "JobSpec",
    [
        (1, "parallelism", IntP),
        (2, "completions", IntP),
        (3, "activeDeadlineSeconds", IntP),
        (4, "selector", Msg(&LABEL_SELECTOR)),
        (5, "manualSelector", BoolP),
        (6, "template", Msg(&POD_TEMPLATE_SPEC)),
        (7, "backoffLimit", IntP),
        (8, "ttlSecondsAfterFinished", IntP),
        (9, "completionMode", StrP),
        (10, "suspend", BoolP),
    ]
);
msg!(
    JOB,
    "Job",
    [
        (1, "metadata", Msg(&OBJECT_META)),
        (2, "spec", Msg(&JOB_SPEC)),
        (3, "status", Skip),
    ]
);
msg!(
    JOB_TEMPLATE_SPEC,
    "JobTemplateSpec",
    [(1, "metadata", Msg(&OBJECT_META)), (2, "spec", Msg(&JOB_SPEC)),]
);
msg!(
    CRON_JOB_SPEC,
    "CronJobSpec",
    [
        (1, "schedule", Str),
        (2, "startingDeadlineSeconds", IntP),
        (3, "concurrencyPolicy", Str),
        (4, "suspend", BoolP),
        (5, "jobTemplate", Msg(&JOB_TEMPLATE_SPEC)),
        (6, "successfulJobsHistoryLimit", IntP),
        (7, "failedJobsHistoryLimit", IntP),
        (8, "timeZone", StrP),
    ]
);
msg!(
    CRON_JOB,
    "CronJob",
    [
        (1, "metadata", Msg(&OBJECT_META)),
        (2, "spec", Msg(&CRON_JOB_SPEC)),
        (3, "status", Skip),
    ]
);

// rbac.authorization.k8s.io/v1
msg!(
    POLICY_RULE,
    "PolicyRule",
    [
        (1, "verbs", RepStr),
        (2, "apiGroups", RepStr),
        (3, "resources", RepStr),
        (4, "resourceNames", RepStr),
        (5, "nonResourceURLs", RepStr),
    ]
);
msg!(
    AGGREGATION_RULE,
    "AggregationRule",
    [(1, "clusterRoleSelectors", RepMsg(&LABEL_SELECTOR))]
);
msg!(
    SUBJECT,
    "Subject",
    [
        (1, "kind", Str),
        (2, "apiGroup", Str),
        (3, "name", Str),
        (4, "namespace", Str),
    ]
);
msg!(
    ROLE_REF,
    "RoleRef",
    [(1, "apiGroup", Str), (2, "kind", Str), (3, "name", Str)]
);
msg!(
    ROLE,
    "Role",
    [
        (1, "metadata", Msg(&OBJECT_META)),
        (2, "rules", RepMsg(&POLICY_RULE))
    ]
);
msg!(
    CLUSTER_ROLE,
    "ClusterRole",
    [
        (1, "metadata", Msg(&OBJECT_META)),
        (2, "rules", RepMsg(&POLICY_RULE)),
        (3, "aggregationRule", Msg(&AGGREGATION_RULE)),
    ]
);
msg!(
    ROLE_BINDING,
    "RoleBinding",
    [
        (1, "metadata", Msg(&OBJECT_META)),
        (2, "subjects", RepMsg(&SUBJECT)),
        (3, "roleRef", Msg(&ROLE_REF)),
    ]
);
msg!(
    CLUSTER_ROLE_BINDING,
    "ClusterRoleBinding",
    [
        (1, "metadata", Msg(&OBJECT_META)),
        (2, "subjects", RepMsg(&SUBJECT)),
        (3, "roleRef", Msg(&ROLE_REF)),
    ]
);

// authorization.k8s.io/v1 (`kubectl auth can-i`). The alpha field and
// label selectors of ResourceAttributes (8, 9) are not listed: a review
// that carries them is refused rather than answered without them.
msg!(
    RESOURCE_ATTRIBUTES,
    "ResourceAttributes",
    [
        (1, "namespace", Str),
        (2, "verb", Str),
        (3, "group", Str),
        (4, "version", Str),
        (5, "resource", Str),
        (6, "subresource", Str),
        (7, "name", Str),
    ]
);
msg!(
    NON_RESOURCE_ATTRIBUTES,
    "NonResourceAttributes",
    [(1, "path", Str), (2, "verb", Str)]
);
msg!(
    SELF_SUBJECT_ACCESS_REVIEW_SPEC,
    "SelfSubjectAccessReviewSpec",
    [
        (1, "resourceAttributes", Msg(&RESOURCE_ATTRIBUTES)),
        (2, "nonResourceAttributes", Msg(&NON_RESOURCE_ATTRIBUTES)),
    ]
);
msg!(
    SELF_SUBJECT_ACCESS_REVIEW,
    "SelfSubjectAccessReview",
    [
        (1, "metadata", Msg(&OBJECT_META)),
        (2, "spec", Msg(&SELF_SUBJECT_ACCESS_REVIEW_SPEC)),
        (3, "status", Skip),
    ]
);
msg!(
    SUBJECT_ACCESS_REVIEW_SPEC,
    "SubjectAccessReviewSpec",
    [
        (1, "resourceAttributes", Msg(&RESOURCE_ATTRIBUTES)),
        (2, "nonResourceAttributes", Msg(&NON_RESOURCE_ATTRIBUTES)),
        (3, "user", Str),
        (4, "groups", RepStr),
        (6, "uid", Str),
    ]
);
msg!(
    SUBJECT_ACCESS_REVIEW,
    "SubjectAccessReview",
    [
        (1, "metadata", Msg(&OBJECT_META)),
        (2, "spec", Msg(&SUBJECT_ACCESS_REVIEW_SPEC)),
        (3, "status", Skip),
    ]
);
msg!(
    SELF_SUBJECT_RULES_REVIEW_SPEC,
    "SelfSubjectRulesReviewSpec",
    [(1, "namespace", Str)]
);
msg!(
    SELF_SUBJECT_RULES_REVIEW,
    "SelfSubjectRulesReview",
    [
        (1, "metadata", Msg(&OBJECT_META)),
        (2, "spec", Msg(&SELF_SUBJECT_RULES_REVIEW_SPEC)),
        (3, "status", Skip),
    ]
);

/// The message of a top-level kind, by the envelope's apiVersion and kind.
pub fn top_level(api_version: &str, kind: &str) -> Option<&'static Message> {
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    Some(match (group, kind) {
        ("", "Namespace") => &NAMESPACE,
        ("", "Pod") => &POD,
        ("", "Binding") => &BINDING,
        ("", "ConfigMap") => &CONFIG_MAP,
        ("", "Secret") => &SECRET,
        ("", "ServiceAccount") => &SERVICE_ACCOUNT,
        ("", "Service") => &SERVICE,
        ("authentication.k8s.io", "TokenRequest") => &TOKEN_REQUEST,
        ("apps", "Deployment") => &DEPLOYMENT,
        ("batch", "Job") => &JOB,
        ("batch", "CronJob") => &CRON_JOB,
        ("rbac.authorization.k8s.io", "Role") => &ROLE,
        ("rbac.authorization.k8s.io", "ClusterRole") => &CLUSTER_ROLE,
        ("rbac.authorization.k8s.io", "RoleBinding") => &ROLE_BINDING,
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => &CLUSTER_ROLE_BINDING,
        ("authorization.k8s.io", "SelfSubjectAccessReview") => &SELF_SUBJECT_ACCESS_REVIEW,
        ("authorization.k8s.io", "SubjectAccessReview" | "LocalSubjectAccessReview") => {
            &SUBJECT_ACCESS_REVIEW
        }
        ("authorization.k8s.io", "SelfSubjectRulesReview") => &SELF_SUBJECT_RULES_REVIEW,
        _ => return None,
    })
}
