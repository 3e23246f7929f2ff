#!/bin/sh
# How fast a NetworkPolicy write is enforced by the nftables datapath: the
# time from `kubectl apply` of deny-all returning to the pod chain in the
# server node's table, and back on delete (10 rounds). Run from the
# repository root as root: scripts/netpol-latency.sh [LAB-NAME].
# The figures include one `lab ssh` poll (~10 ms), so they are upper bounds.
set -e
L=${1:-netpol-latency}
B=${LABYRINTH:-target/debug/labyrinth}
$B lab up --name $L --datapath nftables >/dev/null
trap '$B lab down --name $L >/dev/null' EXIT
k() { $B kubectl --name $L "$@"; }
k create namespace m >/dev/null
printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: s}\nspec:\n  nodeName: node-2\n  containers:\n  - name: srv\n    image: labyrinth/netexec\n    command: [labyrinth, netexec, serve, --port, "8080"]\n' | k -n m apply -f - >/dev/null
k -n m wait --for=condition=Ready pod/s --timeout=120s >/dev/null
# Wait (500 polls at most) until the chain is there (want=0) or gone (want=1).
wait_for() { n=0; until { has; [ $? = "$1" ]; }; do n=$((n+1)); [ $n -lt 500 ] || { echo "not enforced" >&2; exit 1; }; done; }
has() { $B lab ssh --name $L node-2 -- nft list table ip labyrinth-policy 2>/dev/null | grep -q 'chain ingress-m/s'; }
for i in 1 2 3 4 5 6 7 8 9 10; do
  t0=$(date +%s%N); k -n m apply -f examples/netpol/deny-all.yaml >/dev/null; t1=$(date +%s%N)
  wait_for 0; t2=$(date +%s%N)
  k -n m delete netpol deny-all >/dev/null; t3=$(date +%s%N)
  wait_for 1; t4=$(date +%s%N)
  echo "apply: kubectl $(( (t1-t0)/1000000 )) ms, enforced $(( (t2-t1)/1000000 )) ms after it returned; delete: enforced $(( (t4-t3)/1000000 )) ms after"
done
