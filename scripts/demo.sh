#!/usr/bin/env bash
# `make demo`: push the sample attestation to a real local OCI registry the
# way Chainloop's control plane would, and show where it landed.
#   DEMO_REGISTRY=host:port   use a registry you already run (plain HTTP only on loopback)
#   DEMO_USERNAME / DEMO_PASSWORD   its credentials (default demo/demo)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/dist/chainloop-plugin-oci-registry"
envelope="$root/examples/attestation.dsse.json"
# Bold headings on a terminal only; plain text in logs and CI.
if [ -t 2 ]; then say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }; else say() { printf '==> %s\n' "$*" >&2; }; fi

[ -x "$bin" ] || { echo "missing $bin: run make build" >&2; exit 1; }

workdir="$(mktemp -d "${TMPDIR:-/tmp}/chainloop-demo.XXXXXX")"
registry_pid=""
cleanup() {
  if [ -n "$registry_pid" ] && kill -0 "$registry_pid" 2>/dev/null; then
    kill "$registry_pid" 2>/dev/null || true
    for _ in $(seq 20); do kill -0 "$registry_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$registry_pid" 2>/dev/null || true
    say "local registry stopped"
  fi
  rm -rf "$workdir"
}
trap cleanup EXIT INT TERM

if [ -n "${DEMO_REGISTRY:-}" ]; then
  registry="$DEMO_REGISTRY"
  say "using the registry at $registry"
else
  if ! command -v docker-registry >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
      say "installing Debian's docker-registry (CNCF distribution)"
      apt-get update -qq >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-registry >&2
    else
      cat >&2 <<'MSG'
The demo needs a local OCI registry. Either install CNCF distribution:
    sudo apt-get install -y docker-registry
or point the demo at a registry you already run:
    DEMO_REGISTRY=127.0.0.1:5000 make demo
MSG
      exit 1
    fi
  fi
  port="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
  registry="127.0.0.1:$port"
  cat > "$workdir/config.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $workdir/storage
  delete:
    enabled: true
http:
  addr: $registry
YAML
  say "starting a local OCI registry (CNCF distribution) on $registry"
  docker-registry serve "$workdir/config.yml" >"$workdir/registry.log" 2>&1 &
  registry_pid=$!
  for _ in $(seq 100); do
    if node -e 'require("http").get(process.argv[1],r=>process.exit(r.statusCode<500?0:1)).on("error",()=>process.exit(1))' "http://$registry/v2/"; then
      break
    fi
    kill -0 "$registry_pid" 2>/dev/null || { cat "$workdir/registry.log" >&2; exit 1; }
    sleep 0.1
  done
fi

say "playing the Chainloop host: launch, Describe, validate, Register, Attach, Execute, read back"
printf '%s' "${DEMO_PASSWORD:-demo}" | "$bin" host push \
  --repository "$registry/chainloop-demo/attestations" \
  --username "${DEMO_USERNAME:-demo}" \
  --password-stdin \
  --envelope "$envelope"
