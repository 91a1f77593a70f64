#!/bin/sh
# Starts Sentinel. On a pod's first start it writes the configuration: the
# primary to watch is the one the other Sentinels name now (after any
# failover), or the chart's initial primary when none answers (a fresh
# install). The file lives on an emptyDir: a restarted container keeps what
# Sentinel rewrote into it (peers, replicas, failovers), a new pod asks again.
set -eu

conf=/data/sentinel.conf
# The valkey-users Secret's keys, mounted as files: passwords never appear in
# the environment of other processes or on a command line.
users=/valkey-users
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

# An ACL password rule for password $1: its SHA-256, so the plain password never
# lands in the file Sentinel rewrites, and any character in it is safe.
password_rule() {
  hash=$(printf '%s' "$1" | sha256sum | cut -d' ' -f1)
  echo "#$hash"
}

# The rule for the password under Secret key $1; a trailing newline (as `echo`
# leaves it) is not part of it. A missing key stops the script.
secret_rule() {
  password=$(cat "$users/$1")
  password_rule "$password"
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
  api_rule=$(secret_rule tasklane-api)
  worker_rule=$(secret_rule tasklane-worker)
  exporter_rule=$(secret_rule tasklane-exporter)
  peer_rule=$(password_rule "$VALKEY_SENTINEL_PASSWORD")
  umask 077
  # Hostnames only: pod IPs change, their DNS names do not.
  cat >"$conf.new" <<CONF
port $SENTINEL_PORT
dir /data
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip $self
sentinel announce-port $SENTINEL_PORT
# default: operators, the probes, the Valkey pods' follow-sentinel and a new
# Sentinel asking its peers (all of them read-only or local).
requirepass "$REDISCLI_AUTH"
# Each tasklane binary logs in with the user and password of its Valkey URL
# (fred sends them to Sentinel too): AUTH, then SENTINEL get-master-addr-by-name
# and SENTINEL sentinels on every (re)connect, nothing else.
user tasklane-api on $api_rule resetchannels -@all +auth +sentinel|get-master-addr-by-name +sentinel|sentinels
user tasklane-worker on $worker_rule resetchannels -@all +auth +sentinel|get-master-addr-by-name +sentinel|sentinels
# The Sentinels among themselves: pings, hello messages and failover votes
# (is-primary-down-by-addr is the same vote under its newer name).
user $VALKEY_SENTINEL_USER on $peer_rule resetchannels &__sentinel__:hello -@all +auth +ping +publish +client|setname +sentinel|is-master-down-by-addr +sentinel|is-primary-down-by-addr
sentinel sentinel-user $VALKEY_SENTINEL_USER
sentinel sentinel-pass "$VALKEY_SENTINEL_PASSWORD"
# redis_exporter beside each Sentinel: Sentinel's state, read-only.
user tasklane-exporter on $exporter_rule resetchannels -@all +auth +hello +ping +info +role +client|setname +sentinel|masters +sentinel|primaries +sentinel|master +sentinel|primary +sentinel|sentinels +sentinel|replicas +sentinel|slaves +sentinel|ckquorum
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
