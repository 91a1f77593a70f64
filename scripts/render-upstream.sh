#!/usr/bin/env bash
# Renders the upstream NATS and Valkey charts, at the versions pinned in
# infra/helm/{nats,valkey}/upstream.yaml, with tasklane's values. By default
# from the chart repositories (network access: the CI pipeline); with
# UPSTREAM_CHARTS=DIR from unpacked copies DIR/<chart>-<version> instead, which
# is how scripts/checks/25-stack.sh renders them offline.
#
#   scripts/render-upstream.sh [OUT_DIR]     # default build/upstream
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-build/upstream}
helm_bin=${HELM:-helm}
kube_version=${KUBE_VERSION:-1.31.0}
mkdir -p "$out"

field() { sed -n "s/^$1: *//p" "$2"; }

for component in nats valkey; do
  pin=infra/helm/$component/upstream.yaml
  repo=$(field repository "$pin")
  chart=$(field chart "$pin")
  version=$(field version "$pin")
  release=$(field release "$pin")
  namespace=$(field namespace "$pin")
  if [ -n "${UPSTREAM_CHARTS:-}" ]; then
    source_args=("$UPSTREAM_CHARTS/$chart-$version")
  else
    source_args=("$chart" --repo "$repo" --version "$version")
  fi
  "$helm_bin" template "$release" "${source_args[@]}" \
    --namespace "$namespace" --kube-version "$kube_version" \
    --api-versions monitoring.coreos.com/v1 \
    -f "infra/helm/$component/values.yaml" > "$out/$component.yaml"
  echo "rendered $chart $version -> $out/$component.yaml"
done
