//! The service-account volume's names, shared by the API server (whose
//! admission adds the volume) and the controllers (whose root CA publisher
//! makes the ConfigMap the volume reads).

/// The ConfigMap in every namespace that holds the cluster's CA.
pub const ROOT_CA_CONFIGMAP: &str = "kube-root-ca.crt";
/// Its key, and the file name in the volume.
pub const ROOT_CA_KEY: &str = "ca.crt";
