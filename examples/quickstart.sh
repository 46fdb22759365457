#!/usr/bin/env bash
# gko's main job on this machine, with nothing to install by hand: a local Kubernetes API server
# (the project's envtest: Kubernetes' own CRD API server with the real admission chain), gko's
# CRDs and webhook configurations, and `gko serve` answering the API server over HTTPS.
#
# It applies examples/valid (admitted, defaults filled in), shows one mistake being refused, then
# starts the project's Management API STAND-IN (a test fake, not Gravitee APIM) and shows gko's
# reconciler pushing an API to it (SYNCED True), and keeps gko running until Ctrl-C. In another shell:  source target/quickstart/envtest/env
# and use kubectl (e.g. `kubectl apply -f examples/invalid/api-no-plans.yaml`).
set -euo pipefail
cd "$(dirname "$0")/.."

ENVTEST="${GKO_ENVTEST:-../shared/envtest}"
STATE=target/quickstart
PORT="${GKO_QUICKSTART_PORT:-8443}"
PROBE_PORT="${GKO_QUICKSTART_PROBE_PORT:-8081}"

cargo build --bin gko --example apim_standin
GKO=target/debug/gko

[ -x "$ENVTEST/up.sh" ] || { echo "envtest not found at $ENVTEST (set GKO_ENVTEST)"; exit 1; }
"$ENVTEST/build.sh"
rm -rf "$STATE" && mkdir -p "$STATE"
"$ENVTEST/up.sh" "$STATE/envtest" --owner-pid $$ >/dev/null
cleanup() {
  if [ -n "${APIM_PID:-}" ]; then kill "$APIM_PID" 2>/dev/null || true; fi
  if [ -n "${GKO_PID:-}" ]; then kill -TERM "$GKO_PID" 2>/dev/null && wait "$GKO_PID" 2>/dev/null || true; fi
  "$ENVTEST/down.sh" "$STATE/envtest" >/dev/null 2>&1 || true
}
trap cleanup EXIT
# shellcheck disable=SC1091
source "$STATE/envtest/env"

echo "== CRDs"
kubectl apply -f charts/gko/crds/gko-crds.yaml >/dev/null
kubectl wait --for condition=established --timeout=60s \
  crd/managementcontexts.gravitee.io crd/apidefinitions.gravitee.io crd/apiresources.gravitee.io >/dev/null

echo "== gko serve (webhook https://127.0.0.1:$PORT, probes http://127.0.0.1:$PROBE_PORT)"
"$GKO" serve --self-signed --cert-dir "$STATE/certs" \
  --listen "127.0.0.1:$PORT" --probe-listen "127.0.0.1:$PROBE_PORT" --lease-namespace default --log warn &
GKO_PID=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$PROBE_PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -sf "http://127.0.0.1:$PROBE_PORT/readyz" >/dev/null

echo "== webhook configurations (url clientConfig + caBundle: a local API server cannot reach a Service)"
CA=$(base64 -w0 < "$STATE/certs/ca.crt")
kubectl apply -f webhook-config/validating.yaml -f webhook-config/mutating.yaml >/dev/null
kubectl patch validatingwebhookconfiguration gko-validating --type=json -p "[{\"op\":\"replace\",\"path\":\"/webhooks/0/clientConfig\",\"value\":{\"url\":\"https://127.0.0.1:$PORT/validate\",\"caBundle\":\"$CA\"}}]" >/dev/null
kubectl patch mutatingwebhookconfiguration gko-mutating --type=json -p "[{\"op\":\"replace\",\"path\":\"/webhooks/0/clientConfig\",\"value\":{\"url\":\"https://127.0.0.1:$PORT/mutate\",\"caBundle\":\"$CA\"}}]" >/dev/null
sleep 1

echo "== kubectl apply -f examples/valid"
kubectl apply -f examples/valid
kubectl get graviteecontexts,graviteeapis,apiresources

echo "== a mistake is refused, naming the field and the fix"
kubectl apply -f examples/invalid/api-unknown-plan-security.yaml || true

echo "== the Management API STAND-IN (a test fake of APIM's REST API, not Gravitee APIM)"
target/debug/examples/apim_standin > "$STATE/apim" &
APIM_PID=$!
for _ in $(seq 1 50); do [ -s "$STATE/apim" ] && break; sleep 0.1; done
read -r APIM_URL APIM_TOKEN < "$STATE/apim"
kubectl create namespace quickstart --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl apply -n quickstart -f - <<YAML
apiVersion: v1
kind: Secret
metadata:
  name: standin-token
stringData:
  bearerToken: $APIM_TOKEN
---
apiVersion: gravitee.io/v1alpha1
kind: ManagementContext
metadata:
  name: standin
spec:
  baseUrl: $APIM_URL
  organizationId: DEFAULT
  environmentId: DEFAULT
  auth:
    secretRef:
      name: standin-token
---
apiVersion: gravitee.io/v1alpha1
kind: ApiDefinition
metadata:
  name: echo
spec:
  name: echo
  version: "1.0"
  description: Pushed by gko to the Management API stand-in
  contextRef:
    name: standin
  plans:
    - name: free
      security: KEY_LESS
  proxy:
    virtual_hosts:
      - path: /echo
    groups:
      - name: default
        endpoints:
          - name: backend
            target: https://backend.example.com
YAML
kubectl wait -n quickstart --for=condition=Synced --timeout=60s apidefinition/echo >/dev/null || true
kubectl get -n quickstart graviteecontexts,graviteeapis
echo "== what the stand-in now holds (GET .../environments/DEFAULT/apis)"
curl -s -H "Authorization: Bearer $APIM_TOKEN" "$APIM_URL/management/organizations/DEFAULT/environments/DEFAULT/apis"
echo

echo
echo "gko is running. In another shell: source $STATE/envtest/env; kubectl ... (Ctrl-C stops everything)"
wait "$GKO_PID"
