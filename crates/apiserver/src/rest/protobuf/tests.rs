//! Bodies built field by field as gogo-protobuf writes them (non-pointer
//! scalars and structs present even when empty).

use super::*;

fn tag(n: u64, wire: u64) -> Vec<u8> {
    varint((n << 3) | wire)
}

fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

fn bytes(n: u64, b: &[u8]) -> Vec<u8> {
    [tag(n, 2), varint(b.len() as u64), b.to_vec()].concat()
}

fn int(n: u64, v: i64) -> Vec<u8> {
    [tag(n, 0), varint(v as u64)].concat()
}

fn entry(n: u64, k: &str, v: &[u8]) -> Vec<u8> {
    bytes(n, &[bytes(1, k.as_bytes()), bytes(2, v)].concat())
}

fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let tm = [bytes(1, api_version.as_bytes()), bytes(2, kind.as_bytes())].concat();
    [b"k8s\0".to_vec(), bytes(1, &tm), bytes(2, raw)].concat()
}

/// ObjectMeta with a name, an empty generateName and namespace, a zero
/// creationTimestamp and one label, as kubectl's generators fill it.
fn meta(name: &str) -> Vec<u8> {
    bytes(
        1,
        &[
            bytes(1, name.as_bytes()),
            bytes(2, b""),
            bytes(3, b""),
            bytes(8, b""),
            entry(11, "app", name.as_bytes()),
        ]
        .concat(),
    )
}

#[test]
fn a_deployment_as_kubectl_create_sends_it() {
    let container = [
        bytes(1, b"nginx"),
        bytes(2, b"nginx:1.27"),
        bytes(3, b"sleep"),
        bytes(3, b"3600"),
        bytes(6, &int(3, 80)),
        bytes(8, &entry(1, "cpu", &bytes(1, b"250m"))),
        bytes(13, b""),
    ]
    .concat();
    let pod_spec = [bytes(2, &container), bytes(3, b""), int(11, 0)].concat();
    let template = [meta("web"), bytes(2, &pod_spec)].concat();
    let spec = [
        int(1, 0),
        bytes(2, &entry(1, "app", b"web")),
        bytes(3, &template),
        bytes(4, b""),
        int(5, 0),
    ]
    .concat();
    // A status of zero counters, as a non-pointer struct is always written.
    let status = [int(1, 0), int(2, 0)].concat();
    let raw = [meta("web"), bytes(2, &spec), bytes(3, &status)].concat();
    let v = decode(&envelope("apps/v1", "Deployment", &raw)).unwrap();
    assert_eq!(
        v,
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                // replicas is a pointer: 0 was asked for, not left unset.
                "replicas": 0,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"name": "web", "labels": {"app": "web"}},
                    "spec": {"containers": [{
                        "name": "nginx", "image": "nginx:1.27", "command": ["sleep", "3600"],
                        "ports": [{"containerPort": 80}],
                        "resources": {"limits": {"cpu": "250m"}}
                    }]}
                },
                "strategy": {}
            }
        })
    );
}

#[test]
fn service_ports_secret_data_and_negative_numbers() {
    let ports = [
        bytes(
            1,
            &[
                bytes(1, b"80-8080"),
                bytes(2, b"TCP"),
                int(3, 80),
                bytes(4, &int(2, 8080)),
            ]
            .concat(),
        ),
        bytes(
            1,
            &[int(3, 53), bytes(4, &[int(1, 1), bytes(3, b"dns")].concat())].concat(),
        ),
    ]
    .concat();
    let raw = [meta("s"), bytes(2, &[ports, bytes(4, b"ClusterIP")].concat())].concat();
    let v = decode(&envelope("v1", "Service", &raw)).unwrap();
    assert_eq!(
        v["spec"],
        json!({"ports": [
            {"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080},
            {"port": 53, "targetPort": "dns"}
        ], "type": "ClusterIP"})
    );

    let raw = [meta("k"), entry(2, "a", b"\x00\xffb"), bytes(3, b"Opaque")].concat();
    let v = decode(&envelope("v1", "Secret", &raw)).unwrap();
    assert_eq!(v["data"], json!({"a": "AP9i"}));
    assert_eq!(v["type"], "Opaque");

    // A negative int64 comes sign-extended; the server's validation, not
    // the decoder, says what is wrong with it.
    let raw = [meta("t"), bytes(2, &int(4, -5))].concat();
    let v = decode(&envelope("authentication.k8s.io/v1", "TokenRequest", &raw)).unwrap();
    assert_eq!(v["spec"], json!({"expirationSeconds": -5}));
}

#[test]
fn a_field_the_server_does_not_decode_is_refused_not_dropped() {
    // Container field 12 (lifecycle) holding something.
    let container = [bytes(1, b"c"), bytes(12, &int(1, 1))].concat();
    let pod_spec = bytes(2, &container);
    let spec = bytes(3, &[meta("x"), bytes(2, &pod_spec)].concat());
    let raw = [meta("x"), bytes(2, &spec)].concat();
    let e = decode(&envelope("apps/v1", "Deployment", &raw)).unwrap_err();
    assert_eq!(e.code, 415);
    assert!(e.message.contains("field 12 of Container"), "{}", e.message);

    // The same field empty, as gogo writes an unset struct: nothing lost.
    let container = [bytes(1, b"c"), bytes(12, b"")].concat();
    let spec = bytes(3, &[meta("x"), bytes(2, &bytes(2, &container))].concat());
    let raw = [meta("x"), bytes(2, &spec)].concat();
    assert!(decode(&envelope("apps/v1", "Deployment", &raw)).is_ok());

    let e = decode(&envelope("apps/v1", "StatefulSet", &meta("x"))).unwrap_err();
    assert_eq!(e.code, 415);
    assert!(e.message.contains("StatefulSet"), "{}", e.message);
}

#[test]
fn a_field_of_the_wrong_wire_type_is_a_bad_request() {
    // metadata.name as a varint.
    let raw = bytes(1, &int(1, 7));
    let e = decode(&envelope("v1", "Namespace", &raw)).unwrap_err();
    assert_eq!(e.code, 400);
    assert!(e.message.contains("ObjectMeta.name"), "{}", e.message);
}

#[test]
fn namespace_envelope() {
    // k8s\0 + Unknown{typeMeta{apiVersion:"v1",kind:"Namespace"}, raw: Namespace{metadata{name:"wrk-1"}}}
    let meta = [&[0x0a, 5][..], b"wrk-1"].concat();
    let ns = [&[0x0a, meta.len() as u8][..], &meta].concat();
    let tm = [&[0x0a, 2][..], b"v1", &[0x12, 9], b"Namespace"].concat();
    let body = [
        &b"k8s\0"[..],
        &[0x0a, tm.len() as u8],
        &tm,
        &[0x12, ns.len() as u8],
        &ns,
    ]
    .concat();
    let v = decode(&body).unwrap();
    assert_eq!(
        v,
        json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"wrk-1"}})
    );
}

/// Found by fuzz/apiserver_body: a field length near u64::MAX overflowed
/// the end offset. Any length past the body is a 400, never a panic.
#[test]
fn a_length_past_the_body_is_refused() {
    let tm = [&[0x0a, 2][..], b"v1", &[0x12, 9], b"Namespace"].concat();
    let huge = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    for raw_len in [&huge[..], &[0x7f]] {
        let body = [
            &b"k8s\0"[..],
            &[0x0a, tm.len() as u8],
            &tm,
            &[0x12],
            raw_len,
            b"ab",
        ]
        .concat();
        let e = decode(&body).unwrap_err();
        assert_eq!(e.code, 400);
        assert!(e.message.contains("protobuf"), "{}", e.message);
    }
    // A fixed64 field cut short is as malformed.
    let body = [&b"k8s\0"[..], &[0x0a, tm.len() as u8], &tm, &[0x09, 1, 2]].concat();
    assert_eq!(decode(&body).unwrap_err().code, 400);
    // The input the fuzzer saved, as it came.
    let found =
        b"k8s\0\x0a\x0f\xb9\x23v1\x12\x09Nam%space\x12\xff\xff\xff\xff\xff\xff\xff\xff\xff\x25\xff\xffi";
    assert_eq!(decode(found).unwrap_err().code, 400);
}

#[test]
fn access_reviews_as_kubectl_auth_can_i_sends_them() {
    let attrs = [
        bytes(1, b"team"),
        bytes(2, b"list"),
        bytes(3, b""),
        bytes(5, b"secrets"),
    ]
    .concat();
    let ssar = [bytes(1, b""), bytes(2, &bytes(1, &attrs)), bytes(3, b"")].concat();
    let v = decode(&envelope(
        "authorization.k8s.io/v1",
        "SelfSubjectAccessReview",
        &ssar,
    ))
    .unwrap();
    assert_eq!(
        v["spec"]["resourceAttributes"],
        json!({"namespace": "team", "verb": "list", "resource": "secrets"})
    );
    let sar_spec = [
        bytes(2, &[bytes(1, b"/healthz"), bytes(2, b"get")].concat()),
        bytes(3, b"jane"),
        bytes(4, b"dev"),
    ]
    .concat();
    let sar = [bytes(2, &sar_spec)].concat();
    let v = decode(&envelope("authorization.k8s.io/v1", "SubjectAccessReview", &sar)).unwrap();
    assert_eq!(v["spec"]["user"], "jane");
    assert_eq!(v["spec"]["groups"], json!(["dev"]));
    assert_eq!(v["spec"]["nonResourceAttributes"]["path"], "/healthz");
    let rules = [bytes(2, &bytes(1, b"team"))].concat();
    let v = decode(&envelope(
        "authorization.k8s.io/v1",
        "SelfSubjectRulesReview",
        &rules,
    ))
    .unwrap();
    assert_eq!(v["spec"]["namespace"], "team");
    // The alpha selectors are refused, not dropped.
    let selector = bytes(9, &bytes(1, b"app=x"));
    let with_selector = [bytes(2, &bytes(1, &[attrs.clone(), selector].concat()))].concat();
    let e = decode(&envelope(
        "authorization.k8s.io/v1",
        "SelfSubjectAccessReview",
        &with_selector,
    ));
    assert_eq!(e.unwrap_err().code, 415);
}

#[test]
fn a_node_debugging_pod_with_its_host_path_and_inline_sources() {
    let host_root = [
        bytes(1, b"host-root"),
        bytes(2, &bytes(1, &[bytes(1, b"/"), bytes(2, b"")].concat())),
    ]
    .concat();
    let scratch = [bytes(1, b"scratch"), bytes(2, &bytes(2, &bytes(1, b"")))].concat();
    let cfg_source = [bytes(1, &bytes(1, b"settings")), int(3, 0o400)].concat();
    let cfg = [bytes(1, b"cfg"), bytes(2, &bytes(19, &cfg_source))].concat();
    let container = [
        bytes(1, b"debugger"),
        bytes(2, b"busybox"),
        bytes(9, &[bytes(1, b"host-root"), bytes(3, b"/host")].concat()),
    ]
    .concat();
    let spec = [
        bytes(1, &host_root),
        bytes(1, &scratch),
        bytes(1, &cfg),
        bytes(2, &container),
        bytes(10, b"node-1"),
        int(11, 1),
        int(12, 1),
        int(13, 1),
    ]
    .concat();
    let raw = [meta("node-debugger-node-1-x"), bytes(2, &spec)].concat();
    let obj = decode(&envelope("v1", "Pod", &raw)).unwrap();
    assert_eq!(
        obj["spec"]["volumes"],
        json!([
            {"name": "host-root", "hostPath": {"path": "/", "type": ""}},
            {"name": "scratch", "emptyDir": {}},
            {"name": "cfg", "configMap": {"name": "settings", "defaultMode": 256}}
        ])
    );
    let s = &obj["spec"];
    assert_eq!(
        (&s["hostNetwork"], &s["hostPID"], &s["hostIPC"]),
        (&json!(true), &json!(true), &json!(true))
    );
    assert_eq!(
        s["containers"][0]["volumeMounts"],
        json!([{"name": "host-root", "mountPath": "/host"}])
    );
}

/// `kubectl debug --profile=netadmin` and `restricted` set a container's
/// securityContext (and `sysadmin` privileged): decoded, not refused.
#[test]
fn a_debugging_container_s_security_context() {
    let netadmin = bytes(1, &[bytes(1, b"NET_ADMIN"), bytes(1, b"NET_RAW")].concat());
    let restricted = [
        bytes(1, &bytes(2, b"ALL")),
        int(5, 1),
        int(7, 0),
        bytes(11, &bytes(1, b"RuntimeDefault")),
    ]
    .concat();
    let privileged = [int(2, 1), int(4, 0)].concat();
    for (sc, want) in [
        (
            netadmin,
            json!({"capabilities": {"add": ["NET_ADMIN", "NET_RAW"]}}),
        ),
        (
            restricted,
            json!({"capabilities": {"drop": ["ALL"]}, "runAsNonRoot": true,
                   "allowPrivilegeEscalation": false, "seccompProfile": {"type": "RuntimeDefault"}}),
        ),
        (privileged, json!({"privileged": true, "runAsUser": 0})),
    ] {
        let container = [bytes(1, b"debugger"), bytes(2, b"busybox"), bytes(15, &sc)].concat();
        // supplementalGroups (4) one varint each, as generated.proto's
        // proto2 `repeated int64` is sent, then one packed field.
        let pod_sc = [
            int(2, 4242),
            int(6, 3000),
            int(4, 4000),
            int(4, 5000),
            bytes(4, &[0x01, 0x80, 0x01]),
            bytes(
                7,
                &[bytes(1, b"net.ipv4.tcp_syncookies"), bytes(2, b"1")].concat(),
            ),
        ]
        .concat();
        let spec = [bytes(2, &container), bytes(14, &pod_sc)].concat();
        let raw = [meta("d"), bytes(2, &spec)].concat();
        let obj = decode(&envelope("v1", "Pod", &raw)).unwrap();
        assert_eq!(obj["spec"]["containers"][0]["securityContext"], want);
        assert_eq!(
            obj["spec"]["securityContext"],
            json!({"runAsUser": 4242, "runAsGroup": 3000, "supplementalGroups": [4000, 5000, 1, 128],
                   "sysctls": [{"name": "net.ipv4.tcp_syncookies", "value": "1"}]})
        );
    }
}

/// A Binding as kube-scheduler POSTs it to pods/NAME/binding.
#[test]
fn a_binding_as_the_scheduler_sends_it() {
    let target = bytes(2, &[bytes(1, b"Node"), bytes(3, b"node-1")].concat());
    let body = envelope("v1", "Binding", &[meta("web"), target].concat());
    let v = decode(&body).unwrap();
    assert_eq!(v["kind"], "Binding");
    assert_eq!(v["metadata"]["name"], "web");
    assert_eq!(v["target"]["kind"], "Node");
    assert_eq!(v["target"]["name"], "node-1");
}
