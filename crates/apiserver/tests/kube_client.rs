//! Issue 17, kube-rs against our API server: the scale subresource of a
//! Deployment (get_scale, patch_scale, replace_scale), and 404, 409 and 422
//! parsed by kube-rs into `kube::Error::Api` with the real code, reason and
//! field. (Listing, watching, create, patch and delete are in
//! kube_watcher.rs and bench.rs.)

mod common;
use common::TestServer;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::json;

fn deployment(name: &str, replicas: i64) -> Deployment {
    serde_json::from_value(json!({"metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}))
    .unwrap()
}

/// The Status kube-rs parsed from an error answer.
fn status(r: Result<impl std::fmt::Debug, kube::Error>) -> Box<kube::core::Status> {
    match r {
        Err(kube::Error::Api(s)) => s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// The code and reason kube-rs read from the Status.
fn expect(s: &kube::core::Status, code: u16, reason: &str) {
    assert_eq!((s.code, s.reason.as_str()), (code, reason), "{s:?}");
}

#[test]
fn kube_rs_scales_a_deployment_and_parses_error_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path());
    let kc = s.kubeconfig();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let client = common::kube_client(&kc).await;
        let deploys: Api<Deployment> = Api::namespaced(client.clone(), "default");
        deploys
            .create(&PostParams::default(), &deployment("web", 1))
            .await
            .unwrap();

        // Scale: read, patched, replaced; the Deployment follows.
        let scale = deploys.get_scale("web").await.unwrap();
        assert_eq!(scale.spec.as_ref().and_then(|s| s.replicas), Some(1));
        assert_eq!(scale.metadata.name.as_deref(), Some("web"));
        let patched = deploys
            .patch_scale(
                "web",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"replicas": 3}})),
            )
            .await
            .unwrap();
        assert_eq!(patched.spec.as_ref().and_then(|s| s.replicas), Some(3));
        let mut replaced = patched.clone();
        replaced.spec.as_mut().unwrap().replicas = Some(4);
        let replaced = deploys
            .replace_scale("web", &PostParams::default(), &replaced)
            .await
            .unwrap();
        assert_eq!(replaced.spec.as_ref().and_then(|s| s.replicas), Some(4));
        let d = deploys.get("web").await.unwrap();
        assert_eq!(d.spec.replicas, Some(4));
        // The scale writes are recorded as a manager of the replicas, with
        // subresource `scale` (kube-rs sends no User-Agent: manager "").
        let fields = d.metadata.managed_fields.clone().unwrap_or_default();
        let scaler = fields
            .iter()
            .find(|e| e.subresource.as_deref() == Some("scale"))
            .unwrap_or_else(|| panic!("no scale entry: {fields:?}"));
        assert_eq!(scaler.operation.as_deref(), Some("Update"));
        assert_eq!(
            scaler.fields_v1.as_ref().map(|f| f.0.clone()),
            Some(json!({"f:spec": {"f:replicas": {}}}))
        );

        // A stale resourceVersion on the Scale: 409 Conflict.
        let stale = status(
            deploys
                .replace_scale("web", &PostParams::default(), &patched)
                .await,
        );
        expect(&stale, 409, "Conflict");

        // Negative replicas through scale: 422 Invalid naming the field.
        let invalid = status(
            deploys
                .patch_scale(
                    "web",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"replicas": -1}})),
                )
                .await,
        );
        expect(&invalid, 422, "Invalid");
        let causes = invalid
            .details
            .as_ref()
            .map(|d| d.causes.clone())
            .unwrap_or_default();
        assert!(causes.iter().any(|c| c.field == "spec.replicas"), "{causes:?}");

        // And on the Deployment itself.
        let invalid = status(
            deploys
                .create(&PostParams::default(), &deployment("neg", -1))
                .await,
        );
        expect(&invalid, 422, "Invalid");
        assert!(
            deploys.get_opt("neg").await.unwrap().is_none(),
            "a 422 creates nothing"
        );

        // 404: absent, for the object and its scale.
        let missing = status(deploys.get("nope").await);
        expect(&missing, 404, "NotFound");
        assert!(missing.is_not_found());
        let missing = status(deploys.get_scale("nope").await);
        assert_eq!(missing.code, 404, "{missing:?}");

        // 409: a second create of the same name, and a server-side apply
        // of replicas the scale writes own.
        let exists = status(
            deploys
                .create(&PostParams::default(), &deployment("web", 1))
                .await,
        );
        expect(&exists, 409, "AlreadyExists");
        let apply = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 7}});
        let conflict = status(
            deploys
                .patch("web", &PatchParams::apply("rs-apply"), &Patch::Apply(&apply))
                .await,
        );
        expect(&conflict, 409, "Conflict");
        assert!(
            conflict
                .message
                .contains(r#"conflict with "" with subresource "scale" using apps/v1: .spec.replicas"#),
            "{conflict:?}"
        );
        let forced = deploys
            .patch(
                "web",
                &PatchParams::apply("rs-apply").force(),
                &Patch::Apply(&apply),
            )
            .await
            .unwrap();
        assert_eq!(forced.spec.replicas, Some(7));

        // A ConfigMap too, for a core-group 404 through kube-rs's delete.
        let cms: Api<ConfigMap> = Api::namespaced(client, "default");
        let gone = status(cms.delete("nope", &Default::default()).await);
        expect(&gone, 404, "NotFound");
    });
}
