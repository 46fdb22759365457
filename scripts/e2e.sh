#!/usr/bin/env bash
# Runs the reconciler end-to-end suite (and optionally the bench) against two throwaway envtest clusters.
#
#   scripts/e2e.sh            # tests/reconcile_e2e.rs
#   scripts/e2e.sh --bench    # also benches/reconcile.rs
#
# ENVTEST points to the envtest tools (default /work/shared/envtest; see its README).
set -euo pipefail
ENVTEST=${ENVTEST:-/work/shared/envtest}
cd "$(dirname "$0")/.."
dir=$(mktemp -d "${TMPDIR:-/tmp}/gko-e2e.XXXXXX")
cleanup() {
  "$ENVTEST/down.sh" "$dir/a" >/dev/null 2>&1 || true
  "$ENVTEST/down.sh" "$dir/b" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
"$ENVTEST/up.sh" "$dir/a" --owner-pid $$ >/dev/null
"$ENVTEST/up.sh" "$dir/b" --owner-pid $$ >/dev/null
# shellcheck disable=SC1091
source "$dir/a/env"
export GKO_E2E_KUBECONFIG_B="$dir/b/kubeconfig"
start=$(date +%s)
cargo test --test reconcile_e2e -- --nocapture
echo "e2e suite: $(( $(date +%s) - start )) s"
if [[ "${1:-}" == "--bench" ]]; then
  cargo bench --bench reconcile
fi
