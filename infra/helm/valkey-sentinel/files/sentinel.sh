#!/bin/sh
# Starts Sentinel. On a pod's first start it writes the configuration: the
# primary to watch is the one the other Sentinels name now (after any
# failover), or the chart's initial primary when none answers (a fresh
# install). The file lives on an emptyDir: a restarted container keeps what
# Sentinel rewrote into it (peers, replicas, failovers), a new pod asks again.
set -eu

conf=/data/sentinel.conf
domain="$NAMESPACE.svc.$CLUSTER_DOMAIN"
self="$POD_NAME.$SENTINEL_HEADLESS.$domain"

# The primary another Sentinel names, as a DNS name (announce-hostnames).
primary_from_peers() {
  ordinal=0
  while [ "$ordinal" -lt "$SENTINEL_REPLICAS" ]; do
    peer="$SENTINEL_STATEFULSET-$ordinal.$SENTINEL_HEADLESS.$domain"
    ordinal=$((ordinal + 1))
    [ "$peer" = "$self" ] && continue
    answer=$(timeout 3 valkey-cli --no-auth-warning -h "$peer" -p "$SENTINEL_PORT" \
      SENTINEL get-master-addr-by-name "$MASTER_NAME" 2>/dev/null | head -n 1) || continue
    case $answer in
      "" | *[!a-z0-9.-]*) continue ;;
    esac
    echo "$answer"
    return 0
  done
  return 1
}

if [ ! -s "$conf" ]; then
  if primary=$(primary_from_peers); then
    echo "watching $primary, the primary the other Sentinels name"
  else
    primary="$VALKEY_STATEFULSET-$INITIAL_PRIMARY_ORDINAL.$VALKEY_HEADLESS.$domain"
    echo "no other Sentinel answers: watching the initial primary $primary"
  fi
  # Sentinel refuses a configuration whose primary does not resolve.
  until getent hosts "$primary" >/dev/null; do
    echo "waiting until $primary resolves"
    sleep 2
  done
  umask 077
  # Hostnames only: pod IPs change, their DNS names do not.
  cat >"$conf.new" <<CONF
port $SENTINEL_PORT
dir /data
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip $self
sentinel announce-port $SENTINEL_PORT
requirepass "$REDISCLI_AUTH"
sentinel monitor $MASTER_NAME $primary $VALKEY_PORT $QUORUM
sentinel auth-user $MASTER_NAME $VALKEY_SENTINEL_USER
sentinel auth-pass $MASTER_NAME "$VALKEY_SENTINEL_PASSWORD"
sentinel down-after-milliseconds $MASTER_NAME $DOWN_AFTER_MILLISECONDS
sentinel failover-timeout $MASTER_NAME $FAILOVER_TIMEOUT_MILLISECONDS
sentinel parallel-syncs $MASTER_NAME $PARALLEL_SYNCS
CONF
  mv "$conf.new" "$conf"
fi
exec valkey-server "$conf" --sentinel
