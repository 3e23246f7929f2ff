# Run inside a lab node (`lab ssh NODE -- sh node.sh STEP NS`): Debian's
# containerd with its state in the node's own /tmp and /run, our conflist
# and plugin exactly as the node has them (/etc/cni/net.d, /opt/cni/bin).
set -eu
step=$1
ns=$2
D=/tmp/containerd
IMG=docker.io/labyrinth/busybox:test
export CONTAINERD_ADDRESS=/run/containerd/containerd.sock CONTAINERD_NAMESPACE=$ns

case $step in
start)
  mkdir -p $D
  cat > $D/config.toml <<C
version = 2
root = "$D/root"
state = "/run/containerd"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$CONTAINERD_ADDRESS"
C
  setsid -f containerd --config $D/config.toml > $D/log 2>&1
  i=0
  until ctr version >/dev/null 2>&1; do
    i=$((i+1)); [ $i -lt 200 ] || { cat $D/log; exit 1; }; sleep 0.1
  done
  # An image made from busybox-static: one layer, an OCI layout archive.
  W=$D/img; rm -rf $W; mkdir -p $W/rootfs/bin $W/oci/blobs/sha256
  cp /bin/busybox $W/rootfs/bin/busybox
  for a in sh ip ping sleep cat; do ln -s busybox $W/rootfs/bin/$a; done
  mkdir -p $W/rootfs/etc $W/rootfs/proc $W/rootfs/sys $W/rootfs/dev $W/rootfs/tmp
  tar -C $W/rootfs -cf $W/layer.tar .
  blob() { d=$(sha256sum "$1" | cut -d' ' -f1); cp "$1" $W/oci/blobs/sha256/$d; echo $d; }
  L=$(blob $W/layer.tar); LS=$(stat -c %s $W/layer.tar)
  printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"],"Env":["PATH=/bin"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' $L > $W/config.json
  C=$(blob $W/config.json); CS=$(stat -c %s $W/config.json)
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' $C $CS $L $LS > $W/manifest.json
  M=$(blob $W/manifest.json); MS=$(stat -c %s $W/manifest.json)
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s"}}]}' $M $MS $IMG > $W/oci/index.json
  echo '{"imageLayoutVersion":"1.0.0"}' > $W/oci/oci-layout
  tar -C $W/oci -cf $W/image.tar oci-layout index.json blobs
  ctr image import $W/image.tar >/dev/null
  ctr image ls -q
  ;;
run)
  # $3 containers in the foreground of their own `ctr run --rm --cni`: when
  # a task ends, ctr asks CNI to DEL (containerd 1.6's ctr does so only for
  # the runs it waits on), then deletes the container.
  n=$3; tag=$4
  for i in $(seq $n); do
    setsid -f sh -c "exec ctr run --rm --cni $IMG $tag$i sleep 600 > $D/$tag$i.out 2>&1"
  done
  # One exec per try, its answer kept: a second exec could fail on a
  # loaded machine and, inside a pipeline, print nothing without failing.
  for i in $(seq $n); do
    j=0
    line=
    until [ -n "$line" ]; do
      line=$(ctr task exec --exec-id a$i-$j $tag$i ip -4 -o addr show eth0 2>/dev/null \
        | awk -v c=$tag$i '/inet /{print c, $4}') || line=
      [ -n "$line" ] && break
      j=$((j+1)); [ $j -lt 300 ] || { echo "no address in $tag$i"; cat $D/$tag$i.out $D/log | tail -20; exit 1; }; sleep 0.1
    done
    echo "$line"
  done
  ;;
ping)
  # from container $3 to address $4
  ctr task exec --exec-id p$$ $3 ping -c 1 -W 3 $4 >/dev/null && echo reached
  ;;
stop)
  n=$3; tag=$4
  for i in $(seq $n); do ctr task kill -s KILL $tag$i; done
  j=0
  # Each `ctr run` ends once it has asked for DEL and removed its container.
  while pgrep -x ctr >/dev/null; do
    j=$((j+1)); [ $j -lt 300 ] || { echo "ctr runs left: $(pgrep -ax ctr)"; exit 1; }; sleep 0.1
  done
  echo containers: $(ctr container ls -q | wc -l)
  ;;
down)
  ctr image rm $IMG >/dev/null 2>&1 || true
  pkill -x containerd || true
  ;;
esac
