#!/usr/bin/env bash
# Builds `kstatus` (kstatus/main.go: sigs.k8s.io/cli-utils' status.Compute over objects on
# stdin) into the same cache as the local-cluster binaries. A stamp of its inputs (the module,
# this script, `go version`) makes a second run a no-op; any change to them rebuilds.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${FERRY_CACHE:-$HOME/.cache/ferry}
bin=$cache/bin
export GOCACHE=${GOCACHE_OVERRIDE:-$cache/go-build}
export GOFLAGS=-mod=mod CGO_ENABLED=0

stamp=$( (go version; cat "$here/build.sh" "$here"/kstatus/go.mod "$here"/kstatus/go.sum \
  "$here"/kstatus/*.go) | sha256sum | cut -d' ' -f1)
if [ "$(cat "$bin/.kstatus-stamp" 2>/dev/null)" = "$stamp" ] && [ -x "$bin/kstatus" ]; then
  echo "kstatus up to date in $bin"
  exit 0
fi

mkdir -p "$bin"
rm -f "$bin/.kstatus-stamp"
echo "building kstatus (sigs.k8s.io/cli-utils) into $bin"
(cd "$here/kstatus" && go build -trimpath -ldflags="-s -w" -o "$bin/kstatus" .)
echo "$stamp" > "$bin/.kstatus-stamp"
echo "kstatus built in $bin"
