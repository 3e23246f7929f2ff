//! Issue 20: `init phase upload-certs` seals the shared keys into
//! kube-system/kubeadm-certs, and `join --control-plane`'s preflight opens
//! them with a bootstrap token, against a real server: the token reads
//! kubeadm-config and kubeadm-certs through kubeadm's Roles and nothing
//! else; a cluster whose store is not etcd, a wrong key and a Secret that
//! is gone are refused naming why; the opened files are the server's own.

mod common;
use common::{call, TestServer};
use labyrinth_apiserver::auth::client::{request, Trust};
use labyrinth_apiserver::auth::join_control_plane::preflight;
use labyrinth_apiserver::upload_certs::{CertificateKey, SHARED};
use labyrinth_apiserver::{create_token, upload_certs};
use labyrinth_contracts::cluster_config::ClusterConfiguration;
use labyrinth_contracts::store::StoreKind;
use std::time::Duration;

fn cluster(store: StoreKind) -> ClusterConfiguration {
    ClusterConfiguration {
        store,
        etcd_endpoints: vec!["http://127.0.0.1:2379".into()],
        control_plane_endpoint: Some("10.168.0.7:6443".into()),
        service_subnet: "10.96.0.0/12".parse().unwrap(),
        dns_domain: "cluster.local".into(),
        controller_manager_extra_args: Vec::new(),
    }
}

#[test]
fn a_bootstrap_token_opens_the_uploaded_certificates_only_with_the_key_and_only_on_etcd() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path());
    let (token, _) =
        s.rt.block_on(create_token(dir.path(), Duration::from_secs(600)))
            .unwrap();
    let hash = s.running().ca_hash.clone();
    let addr = s.running().addr.to_string();
    let key = CertificateKey::generate().unwrap();
    let pf = |key: &CertificateKey| s.rt.block_on(preflight(&addr, &token, &hash, key, "node-9"));

    // Nothing published yet: the join cannot tell the store.
    let err = format!("{:#}", pf(&key).err().unwrap());
    assert!(
        err.contains("publishes no ConfigMap kube-system/kubeadm-config"),
        "{err}"
    );

    s.rt.block_on(upload_certs(dir.path(), &key, Duration::from_secs(3600)))
        .unwrap();
    for store in [StoreKind::Embedded, StoreKind::Etcd] {
        for obj in cluster(store).published() {
            s.apply(&obj.to_string(), &[]);
        }
        if store == StoreKind::Embedded {
            let err = format!("{:#}", pf(&key).err().unwrap());
            assert!(err.contains("the cluster's store is embedded"), "{err}");
        }
    }
    let st = pf(&key).unwrap();
    assert_eq!(st.cluster, cluster(StoreKind::Etcd));
    for (name, file) in SHARED {
        let (_, got) = st.files.iter().find(|(n, _)| n == name).unwrap();
        assert_eq!(got, &std::fs::read(dir.path().join(file)).unwrap(), "{name}");
    }
    let err = format!("{:#}", pf(&CertificateKey::generate().unwrap()).err().unwrap());
    assert!(
        err.contains("the certificate key does not decrypt kube-system/kubeadm-certs"),
        "{err}"
    );

    // The token reads those two objects, no other Secret, and writes nothing.
    let ca = Trust::Ca(
        labyrinth_apiserver::tls::pem_to_der(
            &std::fs::read_to_string(dir.path().join("pki/ca.crt")).unwrap(),
        )
        .unwrap(),
    );
    let as_token = |method: &str, path: &str, body: Option<&serde_json::Value>| {
        s.rt.block_on(request(&addr, &ca, method, path, Some(&token), body))
            .unwrap()
            .0
    };
    assert_eq!(
        as_token(
            "GET",
            "/api/v1/namespaces/kube-system/secrets/kubeadm-certs",
            None
        ),
        200
    );
    let id = &token[..6];
    assert_eq!(
        as_token(
            "GET",
            &format!("/api/v1/namespaces/kube-system/secrets/bootstrap-token-{id}"),
            None
        ),
        403
    );
    assert_eq!(
        as_token("GET", "/api/v1/namespaces/kube-system/secrets", None),
        403
    );
    let cm = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
    assert_eq!(
        as_token("POST", "/api/v1/namespaces/kube-system/configmaps", Some(&cm)),
        403
    );

    let (code, _) = call(
        &s,
        "DELETE",
        "/api/v1/namespaces/kube-system/secrets/kubeadm-certs",
        None,
    );
    assert_eq!(code, 200);
    let err = format!("{:#}", pf(&key).err().unwrap());
    assert!(
        err.contains("Secret kube-system/kubeadm-certs is absent"),
        "{err}"
    );
}
