#!/usr/bin/env bash
# Builds bench/goref/goref, the Go reference plugin, offline in GOPATH mode
# with the Go stubs that test/interop/gohost/build.sh generates. The benchmark
# builds the host first; run alone, this builds it when the stubs are missing.
# One "goref: built" line on success.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
GOHOST="$HERE/../../test/interop/gohost"
[ -f "$GOHOST/.gopath/src/gohostapi/api/fanout.pb.go" ] || bash "$GOHOST/build.sh" >/dev/null
export GO111MODULE=off GOFLAGS= GOPROXY=off GOSUMDB=off GOTOOLCHAIN=local
export GOPATH="$GOHOST/.gopath:/usr/share/gocode" GOCACHE="$GOHOST/.gopath/cache"
(cd "$HERE" && go vet . && go build -o "$HERE/goref" .) || { echo "goref: building the reference plugin failed" >&2; exit 1; }
echo "goref: built"
