#!/usr/bin/env bash
# Creates the credentials a tasklane namespace needs, with fresh random
# passwords, when External Secrets does not provide them (docs/how-to-run.md,
# "Created by the operator"). Secrets that already exist are left alone, so it
# is safe to run again; delete one to rotate it (and restart what reads it).
#
#   ci/create-secrets.sh [NAMESPACE]       default tasklane
set -euo pipefail

ns=${1:-tasklane}
gen() { openssl rand -base64 48 | tr -d '/+=\n' | cut -c1-40; }

exists() { kubectl -n "$ns" get secret "$1" >/dev/null 2>&1; }

# Passwords are read back from the Secrets that hold them, so a second run
# builds the tasklane Secrets with the passwords the servers already use.
password() {  # password SECRET KEY
  kubectl -n "$ns" get secret "$1" -o "jsonpath={.data.$2}" | base64 -d
}

if ! exists nats-users; then
  # NATS users, read by nats-server (and nats-box) through environment variables.
  kubectl -n "$ns" create secret generic nats-users \
    --from-literal=tasklane-api="$(gen)" \
    --from-literal=tasklane-worker="$(gen)" \
    --from-literal=tasklane-ops="$(gen)" \
    --from-literal=sys="$(gen)"
fi
if ! exists valkey-users; then
  # Valkey ACL users; the exporter logs in as default too.
  kubectl -n "$ns" create secret generic valkey-users \
    --from-literal=default="$(gen)" \
    --from-literal=replicator="$(gen)"
fi
valkey_pw=$(password valkey-users default)
for component in api worker; do
  exists "tasklane-$component" && continue
  # What the gateway and the workers read (chart value existingSecret).
  kubectl -n "$ns" create secret generic "tasklane-$component" \
    --from-literal=nats-user="tasklane-$component" \
    --from-literal=nats-password="$(password nats-users "tasklane-$component")" \
    --from-literal=valkey-url="redis://default:$valkey_pw@valkey.$ns.svc.cluster.local:6379"
done
kubectl -n "$ns" get secret nats-users valkey-users tasklane-api tasklane-worker
