"""The official Python client (python3-kubernetes) against Labyrinth's API
server: the calls crates/apiserver/tests/python_client.rs checks. Each step
prints one line; any failure raises (exit status 1)."""
import json
import sys

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

config.load_kube_config(config_file=sys.argv[1])
v1 = client.CoreV1Api()
NS = "python"


def status_of(call):
    """The (code, reason) of the Status an ApiException carries."""
    try:
        call()
    except ApiException as e:
        body = json.loads(e.body)
        return e.status, body["reason"]
    raise AssertionError("expected an error")


names = sorted(n.metadata.name for n in v1.list_namespace().items)
print("namespaces", ",".join(names))
v1.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NS)))
pod = client.V1Pod(
    metadata=client.V1ObjectMeta(name="p"),
    spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="i")]),
)
v1.create_namespaced_pod(NS, pod)
print("pods", ",".join(p.metadata.name for p in v1.list_namespaced_pod(NS).items))

start = v1.list_namespaced_config_map(NS).metadata.resource_version
cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cm"), data={"k": "v"})
v1.create_namespaced_config_map(NS, cm)
print("created", v1.read_namespaced_config_map("cm", NS).data["k"])
print("conflict", *status_of(lambda: v1.create_namespaced_config_map(NS, cm)))
v1.delete_namespaced_config_map("cm", NS)
print("missing", *status_of(lambda: v1.read_namespaced_config_map("cm", NS)))

# The watch (the client sends watch=True) replays from before the create.
seen = []
for ev in watch.Watch().stream(
    v1.list_namespaced_config_map, NS, resource_version=start, timeout_seconds=20, _request_timeout=60
):
    seen.append(ev["type"] + ":" + ev["object"].metadata.name)
    if ev["type"] == "DELETED":
        break
print("watched", ",".join(seen))

keep = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="keep"))
v1.create_namespaced_config_map(NS, keep)
v1.delete_namespaced_config_map("keep", NS, dry_run="All")
print("after dry-run delete", v1.read_namespaced_config_map("keep", NS).metadata.name)
bad = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="Not_A_Name"))
print("invalid", *status_of(lambda: v1.create_namespaced_config_map(NS, bad)))

# Paging: limit and _continue, every object once, in pages of two.
for i in range(5):
    v1.create_namespaced_config_map(NS, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"page{i}")))
paged, token, pages = [], None, 0
while True:
    page = v1.list_namespaced_config_map(NS, limit=2, _continue=token)
    pages += 1
    paged += [c.metadata.name for c in page.items]
    token = page.metadata._continue
    if not token:
        break
print("paged", ",".join(paged), "in", pages, "pages")
