#!/usr/bin/env bash
# Builds the local-cluster binaries (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, kwok, helm, kind; kubelet, kube-proxy and kube-router, whose
# network policy controller enforces NetworkPolicy there in the pods tier, for the real node)
# and fake-gcs-server (the local GCS the torchserve tier fetches gs:// artifacts from) from
# Go modules into a cache outside the repository. A stamp of every input (go.mod/go.sum, this
# script, `go version`) makes a second run a no-op; any change to those inputs rebuilds.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${FERRY_CACHE:-$HOME/.cache/ferry}
bin=$cache/bin
export GOCACHE=${GOCACHE_OVERRIDE:-$cache/go-build}
export GOFLAGS=-mod=mod CGO_ENABLED=0

kube_version=v1.35.4
kwok_version=v0.8.0
helm_version=v3.22.0
kind_version=v0.33.0
fake_gcs_version=v1.56.1
kube_router_version=v2.1.0

stamp_inputs() {
  go version
  echo "$kube_version $kwok_version $helm_version $kind_version $fake_gcs_version $kube_router_version"
  cat "$here/build.sh" "$here"/go/*/go.mod "$here"/go/*/go.sum
}
stamp=$(stamp_inputs | sha256sum | cut -d' ' -f1)
binaries=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy
  kwok helm kind fake-gcs-server kube-router)

all_present() {
  local b
  for b in "${binaries[@]}"; do [ -x "$bin/$b" ] || return 1; done
  [ -f "$cache/kwok-stages/pod-delete.yaml" ]
}
if [ "$(cat "$bin/.stamp" 2>/dev/null)" = "$stamp" ] && all_present; then
  echo "local-cluster binaries up to date in $bin"
  exit 0
fi

mkdir -p "$bin"
rm -f "$bin/.stamp"
major=${kube_version#v}; major=${major%%.*}
minor=${kube_version#v*.}; minor=${minor%%.*}
# Fixed build date: identical flags keep the Go build cache valid between runs.
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=2026-01-01T00:00:00Z"
done

echo "building Kubernetes $kube_version control plane, kubectl, kubelet and kube-proxy into $bin"
(cd "$here/go/kube" && go build -trimpath -tags=selinux,notest,grpcnotrace -ldflags="$ldflags" -o "$bin/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl \
  k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy)

echo "building etcd into $bin"
(cd "$here/go/etcd" && go build -trimpath -ldflags="-s -w" -o "$bin/etcd" go.etcd.io/etcd/server/v3)

echo "installing kwok $kwok_version, helm $helm_version, kind $kind_version into $bin"
GOBIN=$bin go install -trimpath -ldflags="-s -w" "sigs.k8s.io/kwok/cmd/kwok@$kwok_version"
GOBIN=$bin go install -trimpath -ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version" \
  "helm.sh/helm/v3/cmd/helm@$helm_version"
GOBIN=$bin go install -trimpath -ldflags="-s -w" "sigs.k8s.io/kind@$kind_version"

echo "installing fake-gcs-server $fake_gcs_version into $bin"
# Its go.mod has no replace directives, so `go install pkg@version` builds it as released.
GOBIN=$bin go install -trimpath -ldflags="-s -w" "github.com/fsouza/fake-gcs-server@$fake_gcs_version"

echo "installing kube-router $kube_router_version into $bin"
# Only its network policy controller runs (tests/pods/netpol.py): iptables + ipset, where
# kube-network-policies needs the nftables queue expression this kernel kind lacks.
GOBIN=$bin go install -trimpath -ldflags="-s -w" \
  "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@$kube_router_version"

# kwok >= 0.8 has no built-in stages: keep the upstream defaults next to the binaries.
stages=$cache/kwok-stages
upstream=$(go env GOMODCACHE)/sigs.k8s.io/kwok@$kwok_version/kustomize/stage
rm -rf "$stages" && mkdir -p "$stages"
cp "$upstream/node/fast/node-initialize.yaml" "$upstream/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml" \
  "$upstream/pod/fast/pod-ready.yaml" "$upstream/pod/fast/pod-complete.yaml" "$upstream/pod/fast/pod-delete.yaml" "$stages/"
chmod 644 "$stages"/*.yaml

all_present
echo "$stamp" > "$bin/.stamp"
echo "local-cluster binaries built in $bin"
