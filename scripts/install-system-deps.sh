#!/usr/bin/env bash
# Installs the Debian packages the build and the test suites use, only when
# something is missing: CNCF distribution (a real OCI registry), skopeo (an
# independent OCI client), htpasswd, the Go toolchain and libraries for the Go
# go-plugin host used by the cross-language test; and, for the arm64
# executable and its image overlay, qemu user emulation, an aarch64 strip and
# Debian's arm64 C/C++ runtime libraries (apt multiarch).
set -euo pipefail
pkgs=(docker-registry skopeo apache2-utils golang-go golang-github-hashicorp-go-plugin-dev
      golang-github-hashicorp-go-hclog-dev golang-google-grpc-dev golang-goprotobuf-dev protobuf-compiler
      binutils qemu-user-static binutils-aarch64-linux-gnu libc6:arm64 libstdc++6:arm64 libgcc-s1:arm64)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${missing[*]}; run: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing: ${missing[*]}" >&2
dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
