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
    --from-literal=tasklane-setup="$(gen)" \
    --from-literal=tasklane-ops="$(gen)" \
    --from-literal=sys="$(gen)"
fi
if ! exists valkey-users; then
  # Valkey ACL users (infra/helm/valkey/values.yaml): default for operators, one
  # user per binary and one for the exporter.
  kubectl -n "$ns" create secret generic valkey-users \
    --from-literal=default="$(gen)" \
    --from-literal=replicator="$(gen)" \
    --from-literal=tasklane-api="$(gen)" \
    --from-literal=tasklane-worker="$(gen)" \
    --from-literal=tasklane-exporter="$(gen)"
fi
for component in api worker; do
  exists "tasklane-$component" && continue
  # What the gateway and the workers read (chart value existingSecret): each its
  # own NATS user and its own Valkey user.
  user="tasklane-$component"
  valkey_pw=$(password valkey-users "$user")
  kubectl -n "$ns" create secret generic "$user" \
    --from-literal=nats-user="$user" \
    --from-literal=nats-password="$(password nats-users "$user")" \
    --from-literal=valkey-url="redis://$user:$valkey_pw@valkey.$ns.svc.cluster.local:6379"
done
if ! exists tasklane-topology-setup; then
  # The worker chart's topology setup Job (topologySetup.existingSecret).
  kubectl -n "$ns" create secret generic tasklane-topology-setup \
    --from-literal=nats-user=tasklane-setup \
    --from-literal=nats-password="$(password nats-users tasklane-setup)"
fi
if ! exists tasklane-api-smoke-token; then
  # The gateway's API keys (config.auth.secretName, only hashes) start with one
  # key, for the `helm test` pod, whose token is kept in a Secret of its own.
  # Add the clients' keys to keys.toml (docs/security.md); the gateway picks up
  # a changed Secret within seconds.
  token="tl_$(openssl rand -hex 32)"
  kubectl -n "$ns" create secret generic tasklane-api-smoke-token --from-literal=token="$token"
  exists tasklane-api-auth || kubectl -n "$ns" create secret generic tasklane-api-auth \
    --from-literal=keys.toml="$(printf '[[key]]\nid = "helm-test"\nsha256 = "%s"\ntenant = "smoke"\nscopes = ["tasks:write", "tasks:read"]\n' \
      "$(printf %s "$token" | sha256sum | cut -d' ' -f1)")"
fi
kubectl -n "$ns" get secret nats-users valkey-users tasklane-api tasklane-worker \
  tasklane-topology-setup tasklane-api-auth tasklane-api-smoke-token
