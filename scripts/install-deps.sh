#!/usr/bin/env bash
# Install the system tools Labyrinth and its tests use, only those missing.
# Debian packages (and cargo-fuzz from crates.io); run as root. Quiet when
# everything is already there.
set -euo pipefail

# command → Debian package that provides it
declare -A NEED=(
  [ip]=iproute2 [ping]=iputils-ping [ps]=procps [unshare]=util-linux [nsenter]=util-linux
  [iptables]=iptables [nft]=nftables [conntrack]=conntrack
  [tcpdump]=tcpdump [tshark]=tshark [bpftool]=bpftool
  [clang]=clang [llc]=llvm
  [iperf3]=iperf3 [dnsperf]=dnsperf [dig]=dnsutils [nc]=netcat-openbsd [socat]=socat
  [ethtool]=ethtool [curl]=curl [openssl]=openssl [script]=bsdutils
  [chromium]=chromium
  # a real container runtime beside ours (issue 21): Debian's containerd 1.6 + runc
  [containerd]=containerd [ctr]=containerd [runc]=runc
  # The image catalog's programs (crates/agent/images.yaml): nginx, busybox.
  [nginx]=nginx [busybox]=busybox-static
  # The load generator of the nginx benchmark (crates/labyrinth/tests/bench_nginx.rs).
  [wrk]=wrk
  # The etcd store backend (--store etcd) and its tests: Debian's etcd 3.4.
  [etcd]=etcd-server [etcdctl]=etcd-client
)
missing=()
for cmd in "${!NEED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEED[$cmd]}")
done
# The reference CNI plugins (ptp + host-local) the CNI tests compare against.
[ -x /usr/lib/cni/ptp ] || missing+=(containernetworking-plugins)
[ -e /usr/include/bpf/bpf_helpers.h ] || missing+=(libbpf-dev)
# The eBPF programs include the kernel uapi headers (linux/bpf.h, asm/types.h).
[ -e /usr/include/linux/bpf.h ] || missing+=(linux-libc-dev)
# httpbin for the catalog's kennethreitz/httpbin and mccutchen/go-httpbin.
[ -e /usr/lib/python3/dist-packages/httpbin/core.py ] || missing+=(python3-httpbin)
# The official Python client, run against our API server by
# crates/apiserver/tests/python_client.rs.
/usr/bin/python3 -c 'import kubernetes' >/dev/null 2>&1 || missing+=(python3-kubernetes)
# venv for PyPI's client below.
/usr/bin/python3 -c 'import ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
# kubectl: the machine image ships a current one; Debian's old client is the fallback.
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)

if [ ${#missing[@]} -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  echo "installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  # Pods run nginx; the machine itself needs no nginx service on port 80.
  if printf '%s\n' "${missing[@]}" | grep -qx nginx && command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now nginx >/dev/null 2>&1 || true
  fi
  # Likewise etcd: the lab and the tests start their own, on their own ports.
  if printf '%s\n' "${missing[@]}" | grep -qx etcd-server && command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now etcd >/dev/null 2>&1 || true
  fi
fi

# PyPI's latest official Python client beside Debian's, in a venv of its
# own (crates/labyrinth/tests/python_clients.rs runs both).
PYCLIENT=/opt/labyrinth-pyclient
if ! "$PYCLIENT/bin/python" -c 'import kubernetes' >/dev/null 2>&1; then
  echo "installing: kubernetes (PyPI) in $PYCLIENT" >&2
  /usr/bin/python3 -m venv "$PYCLIENT"
  "$PYCLIENT/bin/pip" install -q --disable-pip-version-check kubernetes
fi

# cargo-fuzz, for fuzz/run.sh (`./run.sh test`); from crates.io, pinned.
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing: cargo-fuzz" >&2
  cargo install cargo-fuzz --version 0.13.2 --locked --quiet
fi
