#!/usr/bin/env bash
# Builds metrics-server (sigs.k8s.io/metrics-server, the resource metrics API an HPA on CPU
# reads) from its Go module into the same cache as the local-cluster binaries. Its go.mod has
# no replace directives, so `go install pkg@version` builds it as released. A stamp of its
# inputs (the version, this script, `go version`) makes a second run a no-op.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${FERRY_CACHE:-$HOME/.cache/ferry}
bin=$cache/bin
export GOCACHE=${GOCACHE_OVERRIDE:-$cache/go-build}
export GOFLAGS=-mod=mod CGO_ENABLED=0

version=v0.9.0  # the module proxy serves v0.8.0 and v0.9.0 only

stamp=$( (go version; echo "$version"; cat "$here/build.sh") | sha256sum | cut -d' ' -f1)
manifests=$cache/metrics-server-manifests
if [ "$(cat "$bin/.metrics-server-stamp" 2>/dev/null)" = "$stamp" ] && [ -x "$bin/metrics-server" ] \
    && [ -f "$manifests/kustomization.yaml" ]; then
  echo "metrics-server up to date in $bin"
  exit 0
fi

mkdir -p "$bin"
rm -f "$bin/.metrics-server-stamp"
echo "installing metrics-server $version into $bin"
GOBIN=$bin go install -trimpath \
  -ldflags="-s -w -X k8s.io/client-go/pkg/version.gitVersion=$version" \
  "sigs.k8s.io/metrics-server/cmd/metrics-server@$version"
# Its own manifests (kustomize base: RBAC, Deployment, Service, APIService), kept next to the
# binary so a cleaned module cache does not break a run; tests/pods/metrics_server.py renders
# them with `kubectl kustomize` and patches only what this cluster needs.
upstream=$(go env GOMODCACHE)/sigs.k8s.io/metrics-server@$version/manifests/base
rm -rf "$manifests" && mkdir -p "$manifests"
cp "$upstream"/*.yaml "$manifests/"
chmod 644 "$manifests"/*.yaml
echo "$stamp" > "$bin/.metrics-server-stamp"
echo "metrics-server built in $bin"
