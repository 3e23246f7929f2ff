"""The official Python client against a lab, from inside node-0: the calls
crates/labyrinth/tests/python_clients.rs checks, run once with Debian's
client and once with PyPI's latest. Each step prints one line; any
failure raises (exit status 1)."""
import json
import sys
import time

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException
from kubernetes.stream import stream

config.load_kube_config(config_file=sys.argv[1])
NS = sys.argv[2]
v1 = client.CoreV1Api()
apps = client.AppsV1Api()


def status_of(call):
    """The (code, reason) of the Status an ApiException carries."""
    try:
        call()
    except ApiException as e:
        return e.status, json.loads(e.body)["reason"]
    raise AssertionError("expected an error")


def until(what, ok, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        got = ok()
        if got:
            return got
        time.sleep(0.5)
    raise AssertionError("timed out waiting for " + what)


v1.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NS)))

# A watch from before three changes sees each once, in order.
start = v1.list_namespaced_config_map(NS).metadata.resource_version
v1.create_namespaced_config_map(NS, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cm"), data={"k": "1"}))
v1.patch_namespaced_config_map("cm", NS, {"data": {"k": "2"}})
v1.delete_namespaced_config_map("cm", NS)
seen = []
for ev in watch.Watch().stream(
    v1.list_namespaced_config_map, NS, resource_version=start, timeout_seconds=20, _request_timeout=60
):
    # The namespace's own kube-root-ca.crt (published by a controller) may
    # arrive in the same window: only the test's ConfigMap is judged.
    if ev["object"].metadata.name != "cm":
        continue
    seen.append("%s:%s=%s" % (ev["type"], ev["object"].metadata.name, (ev["object"].data or {}).get("k")))
    if ev["type"] == "DELETED":
        break
print("watched", ",".join(seen))

# The scale subresource of a Deployment.
labels = {"app": "sleeper"}
dep = client.V1Deployment(
    metadata=client.V1ObjectMeta(name="sleeper"),
    spec=client.V1DeploymentSpec(
        replicas=1,
        selector=client.V1LabelSelector(match_labels=labels),
        template=client.V1PodTemplateSpec(
            metadata=client.V1ObjectMeta(labels=labels),
            spec=client.V1PodSpec(
                termination_grace_period_seconds=1,
                containers=[client.V1Container(name="c", image="busybox", command=["sleep", "3600"])],
            ),
        ),
    ),
)
apps.create_namespaced_deployment(NS, dep)
apps.patch_namespaced_deployment_scale("sleeper", NS, {"spec": {"replicas": 2}})
print("scale", apps.read_namespaced_deployment_scale("sleeper", NS).spec.replicas)
until("two sleeper pods", lambda: len(v1.list_namespaced_pod(NS, label_selector="app=sleeper").items) == 2)
print("sleepers", len(v1.list_namespaced_pod(NS, label_selector="app=sleeper").items))

# Logs and exec with stdin, in a running pod.
talker = client.V1Pod(
    metadata=client.V1ObjectMeta(name="talker"),
    spec=client.V1PodSpec(
        termination_grace_period_seconds=1,
        containers=[
            client.V1Container(name="c", image="busybox", command=["sh", "-c", "echo hello-log; exec sleep 3600"])
        ],
    ),
)
v1.create_namespaced_pod(NS, talker)
until("talker running", lambda: v1.read_namespaced_pod("talker", NS).status.phase == "Running")
logs = until("talker's log", lambda: v1.read_namespaced_pod_log("talker", NS))
print("logs", logs.strip())
ws = stream(
    v1.connect_get_namespaced_pod_exec,
    "talker",
    NS,
    command=["cat"],
    stdin=True,
    stdout=True,
    stderr=True,
    tty=False,
    _preload_content=False,
)
ws.write_stdin("ping-stdin\n")
got = ""
deadline = time.time() + 30
while ws.is_open() and "ping-stdin" not in got and time.time() < deadline:
    ws.update(timeout=1)
    got += ws.read_stdout() if ws.peek_stdout() else ""
ws.close()
print("exec", got.strip())

# Errors parsed from the Status.
print("missing", *status_of(lambda: v1.read_namespaced_pod("nobody", NS)))
print("conflict", *status_of(lambda: v1.create_namespaced_pod(NS, talker)))
bad = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="Not_A_Name"))
print("invalid", *status_of(lambda: v1.create_namespaced_config_map(NS, bad)))
v1.delete_namespace(NS)
