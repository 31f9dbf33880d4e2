#!/usr/bin/env bash
# Builds the Go go-plugin host (test/interop/gohost/gohost) offline in GOPATH
# mode from Debian's packages: Go stubs generated from proto/api/fanout.proto,
# then `go vet` and `go build`. Used by run.sh (interop test) and by the
# benchmarks (the host as a load driver). Exit 0 and no output but one
# "gohost: built ..." line on success.
#
# GOHOST_STATIC_OUT=PATH: also build a static copy (CGO_ENABLED=0) at PATH, for
# the scratch-root suite, whose root has no libc for a Go binary to link.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
for tool in go protoc protoc-gen-go; do
  command -v "$tool" >/dev/null || { echo "gohost: missing tool '$tool' (run: make system-deps)" >&2; exit 1; }
done

GOPATH_DIR="$HERE/.gopath"
STUB_PKG=gohostapi
export GO111MODULE=off GOFLAGS= GOPROXY=off GOSUMDB=off GOTOOLCHAIN=local
export GOPATH="$GOPATH_DIR:/usr/share/gocode" GOCACHE="$GOPATH_DIR/cache"
rm -rf "$GOPATH_DIR/src/$STUB_PKG"
mkdir -p "$GOPATH_DIR/src/$STUB_PKG" "$GOCACHE"
protoc -I "$ROOT/proto" \
  --go_out="plugins=grpc,paths=source_relative,Mapi/fanout.proto=$STUB_PKG/api,Mgoogle/protobuf/timestamp.proto=github.com/golang/protobuf/ptypes/timestamp:$GOPATH_DIR/src/$STUB_PKG" \
  "$ROOT/proto/api/fanout.proto" || { echo "gohost: protoc could not generate the Go stubs" >&2; exit 1; }
(cd "$HERE" && go vet . && go build -o "$HERE/gohost" .) || { echo "gohost: building the Go host failed" >&2; exit 1; }
if [ -n "${GOHOST_STATIC_OUT:-}" ]; then
  (cd "$HERE" && CGO_ENABLED=0 go build -o "$GOHOST_STATIC_OUT" .) || { echo "gohost: building the static Go host failed" >&2; exit 1; }
fi
echo "gohost: built host with $(go version | cut -d' ' -f3), go-plugin $(dpkg-query -W -f='${Version}' golang-github-hashicorp-go-plugin-dev 2>/dev/null || echo '?')"
