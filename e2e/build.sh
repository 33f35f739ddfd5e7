#!/usr/bin/env bash
# Builds (once) the binaries of the end-to-end control plane and caches them by version:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok, Metacontroller.
# A warm run only checks that the cached binaries exist and prints their folder.
#
#   METACONTROLLER_SRC=path/to/metacontroller e2e/build.sh   # (and METACONTROLLER_BIN=path/to/binary)
#
# Prints `KEY=path` lines on stdout (sourced by e2e/run.sh); progress goes to stderr.
set -euo pipefail

K8S_VERSION=v1.36.3
K8S_STAGING_VERSION=v0.36.3
ETCD_VERSION=v3.6.14
KWOK_VERSION=v0.8.0
GO_MIN=1.26

CACHE=${ZEN_FLOW_E2E_CACHE:-$HOME/.cache/zen-flow-e2e}
export CGO_ENABLED=0 GOWORK=off GOFLAGS=-buildvcs=false
BUILD_FLAGS=(-trimpath "-tags=selinux,notest" -pgo=off)

log() { printf '[build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'e2e/build.sh: %s\n' "$*" >&2; exit 1; }

check_go() {
  command -v go >/dev/null || die "Go ${GO_MIN} or newer is required (no 'go' on PATH)"
  local v
  v=$(go env GOVERSION) || die "'go env GOVERSION' failed"
  v=${v#go}
  local major=${v%%.*} rest=${v#*.}
  local minor=${rest%%[!0-9]*}
  if (( major < 1 || (major == 1 && minor < ${GO_MIN#1.}) )); then
    die "Go ${GO_MIN} or newer is required, found go${v} at $(command -v go)"
  fi
}

# Installs an executable atomically so an interrupted build never leaves a half binary.
install_bin() {
  local src=$1 dst=$2
  mkdir -p "$(dirname "$dst")"
  cp "$src" "$dst.tmp.$$"
  chmod 0755 "$dst.tmp.$$"
  mv "$dst.tmp.$$" "$dst"
}

build_kubernetes() {
  local out=$CACHE/kubernetes-$K8S_VERSION
  local bins=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
  local missing=0 b
  for b in "${bins[@]}"; do [[ -x $out/$b ]] || missing=1; done
  if (( missing == 0 )); then echo "KUBERNETES_BIN_DIR=$out"; return; fi

  local src=$CACHE/src/kubernetes-$K8S_VERSION
  mkdir -p "$src"
  log "kubernetes $K8S_VERSION: resolving the module"
  local upstream_mod
  upstream_mod=$(cd "$src" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" \
    | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
  [[ -f $upstream_mod ]] || die "could not download k8s.io/kubernetes@$K8S_VERSION"

  # k8s.io/kubernetes replaces its staging modules with local paths, which a dependent module
  # cannot follow: require each one at its published tag instead.
  local staging
  staging=$(sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/src/.*$#\1#p' "$upstream_mod" | sort -u)
  [[ -n $staging ]] || die "no staging replace block found in $upstream_mod"
  {
    echo "module zen-flow.e2e/kubernetes"
    echo
    echo "go 1.26.0"
    echo
    echo "godebug default=go1.26"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
      echo "tool k8s.io/kubernetes/cmd/$b"
    done
    echo
    echo "replace ("
    local m
    for m in $staging; do echo "	$m => $m $K8S_STAGING_VERSION"; done
    echo ")"
  } > "$src/go.mod"
  log "kubernetes $K8S_VERSION: go mod tidy ($(wc -w <<<"$staging") staging modules)"
  (cd "$src" && go mod tidy)

  local date ldflags pkg
  date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  ldflags="-s -w"
  local minor=${K8S_VERSION#v1.}
  minor=${minor%%.*}
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
  done
  local tmp=$src/out
  mkdir -p "$tmp"
  for b in "${bins[@]}"; do
    [[ -x $out/$b ]] && continue
    log "kubernetes $K8S_VERSION: building $b"
    (cd "$src" && go build "${BUILD_FLAGS[@]}" -ldflags "$ldflags" -o "$tmp/$b" "k8s.io/kubernetes/cmd/$b")
    install_bin "$tmp/$b" "$out/$b"
  done
  echo "KUBERNETES_BIN_DIR=$out"
}

build_etcd() {
  local out=$CACHE/etcd-$ETCD_VERSION/etcd
  if [[ ! -x $out ]]; then
    local src=$CACHE/src/etcd-$ETCD_VERSION
    mkdir -p "$src"
    cat > "$src/main.go" <<'GO'
// Command etcd runs the etcd server; it exists so etcd can be built as a dependency.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
    printf 'module zen-flow.e2e/etcd\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 %s\n' \
      "$ETCD_VERSION" > "$src/go.mod"
    log "etcd $ETCD_VERSION: go mod tidy and build"
    (cd "$src" && go mod tidy && go build "${BUILD_FLAGS[@]}" -ldflags "-s -w" -o "$src/etcd" .)
    install_bin "$src/etcd" "$out"
  fi
  echo "ETCD_BIN=$out"
}

build_kwok() {
  local out=$CACHE/kwok-$KWOK_VERSION/kwok
  if [[ ! -x $out ]]; then
    local gobin=$CACHE/src/kwok-$KWOK_VERSION
    mkdir -p "$gobin"
    log "kwok $KWOK_VERSION: go install"
    GOBIN=$gobin go install "${BUILD_FLAGS[@]}" -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
    install_bin "$gobin/kwok" "$out"
  fi
  echo "KWOK_BIN=$out"
}

# Checks the Metacontroller variables before anything is built: a 20-minute build must not
# end in "METACONTROLLER_SRC is not set".
MC_SRC=""
resolve_metacontroller() {
  if [[ -z ${METACONTROLLER_SRC:-} ]]; then
    die "set METACONTROLLER_SRC to Metacontroller's source tree (v4.17.2; with METACONTROLLER_BIN too when the binary is prebuilt)"
  fi
  MC_SRC=$(cd "$METACONTROLLER_SRC" 2>/dev/null && pwd) \
    || die "METACONTROLLER_SRC=$METACONTROLLER_SRC is not a directory"
  [[ -d $MC_SRC/manifests/production ]] \
    || die "METACONTROLLER_SRC=$MC_SRC has no manifests/production (Metacontroller's CRDs)"
  if [[ -n ${METACONTROLLER_BIN:-} ]]; then
    [[ -x $METACONTROLLER_BIN ]] || die "METACONTROLLER_BIN=$METACONTROLLER_BIN is not an executable file"
  else
    [[ -f $MC_SRC/go.mod && -d $MC_SRC/pkg/cmd/metacontroller ]] \
      || die "METACONTROLLER_SRC=$MC_SRC does not look like Metacontroller's source (no go.mod or pkg/cmd/metacontroller)"
  fi
}

build_metacontroller() {
  if [[ -n ${METACONTROLLER_BIN:-} ]]; then
    echo "METACONTROLLER_BIN=$METACONTROLLER_BIN"
    echo "METACONTROLLER_MANIFESTS=$MC_SRC/manifests/production"
    return
  fi
  local src=$MC_SRC version digest
  version=$(sed -n 's#.*image: ghcr.io/metacontroller/metacontroller:\(v[0-9.]*\).*#\1#p' \
    "$src/manifests/production/metacontroller.yaml" | head -n1)
  version=${version:-unknown}
  # Keyed by the content of the source too: a patched tree gets its own binary.
  digest=$(cd "$src" && find go.mod go.sum pkg -type f \( -name '*.go' -o -name 'go.*' \) \
    | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-12)
  local out=$CACHE/metacontroller-$version-$digest/metacontroller
  if [[ ! -x $out ]]; then
    local tmp=$CACHE/src/metacontroller-$version-$digest
    mkdir -p "$tmp"
    log "metacontroller $version: building from $src"
    (cd "$src" && go build "${BUILD_FLAGS[@]}" -ldflags "-s -w -X main.version=$version" \
      -o "$tmp/metacontroller" ./pkg/cmd/metacontroller)
    install_bin "$tmp/metacontroller" "$out"
  fi
  echo "METACONTROLLER_BIN=$out"
  echo "METACONTROLLER_MANIFESTS=$src/manifests/production"
}

main() {
  check_go
  resolve_metacontroller
  mkdir -p "$CACHE"
  local start=$SECONDS
  build_kubernetes
  build_etcd
  build_kwok
  build_metacontroller
  log "binaries ready in $((SECONDS - start)) s under $CACHE"
}

main "$@"
