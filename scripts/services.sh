#!/usr/bin/env bash
# scripts/services.sh — start the backing services pm-agent's tests use, on 127.0.0.1,
# idempotently, and wait until each one is ready:
#
#   PostgreSQL  5432        postgres://postgres@127.0.0.1:5432/test   (database `test` is created)
#   RabbitMQ    5672        amqp://guest:guest@127.0.0.1:5672
#   Redis       6379        redis://127.0.0.1:6379                    (standalone, no persistence)
#   Redis Cluster 7000-7005 3 masters + 3 replicas                    (no persistence)
#
#   bash scripts/services.sh            # start what is not answering, wait for readiness
#   bash scripts/services.sh status     # print what is up
#
# Anything already answering on its port is left alone and NOT recorded, so
# scripts/services-stop.sh only ever stops what this script started itself.
# Missing Debian packages (postgresql, rabbitmq-server, redis-server) are installed with apt-get
# (needs root) unless NO_INSTALL=1.
#
# Env knobs (defaults shown):
#   SERVICES_DIR=/tmp/pm-agent-services   state lives in $SERVICES_DIR/{run,data,logs};
#                                         run/started.list = services this script started
#   WITH_POSTGRES=1 WITH_RABBITMQ=1 WITH_REDIS_STANDALONE=1 WITH_REDIS_CLUSTER=1
#                                         set one to 0 to skip that service
#   CLUSTER_PORTS="7000 7001 7002 7003 7004 7005"
#                                         Redis Cluster node ports (6 => 3 masters + 3 replicas)
#   PG_DATABASE=test                      database created if missing
#   PG_PASSWORD=                          if set, password given to role postgres (the tests
#                                         connect without one: loopback uses trust auth)
#   PG_TRUST_LOOPBACK=1                   when this script starts a PostgreSQL cluster itself,
#                                         make TCP connections from loopback `trust` in its
#                                         pg_hba.conf (test machines only)
#   NO_INSTALL=0                          1 = never call apt-get (fail instead)
set -euo pipefail

SERVICES_DIR=${SERVICES_DIR:-/tmp/pm-agent-services}
RUN=$SERVICES_DIR/run; DATA=$SERVICES_DIR/data; LOGS=$SERVICES_DIR/logs
STARTED=$RUN/started.list          # services THIS script started (one name a line)
CLUSTER_PORTS=${CLUSTER_PORTS:-"7000 7001 7002 7003 7004 7005"}
WITH_REDIS_CLUSTER=${WITH_REDIS_CLUSTER:-1}
WITH_REDIS_STANDALONE=${WITH_REDIS_STANDALONE:-1}
WITH_POSTGRES=${WITH_POSTGRES:-1}
WITH_RABBITMQ=${WITH_RABBITMQ:-1}
PG_DATABASE=${PG_DATABASE:-test}
PG_PASSWORD=${PG_PASSWORD:-}
PG_TRUST_LOOPBACK=${PG_TRUST_LOOPBACK:-1}
NO_INSTALL=${NO_INSTALL:-0}
mkdir -p "$RUN" "$DATA" "$LOGS"
touch "$STARTED"

T0=$(date +%s.%N)
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}'; }
log()  { printf '[services %6ss] %s\n' "$(since "$T0")" "$*"; }
die()  { log "ERROR: $*" >&2; exit 1; }
mark() { grep -qx "$1" "$STARTED" || echo "$1" >> "$STARTED"; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }   # TCP connect test
# wait_for <seconds> <description> <command...>
wait_for() {
  local secs=$1 what=$2; shift 2
  local end=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -ge "$end" ] && die "timed out after ${secs}s waiting for $what"
    sleep 0.2
  done
}

APT_UPDATED=0
ensure_pkg() {   # ensure_pkg <command> <debian package...>
  command -v "$1" >/dev/null 2>&1 && return 0
  [ "$NO_INSTALL" = 1 ] && die "$1 missing and NO_INSTALL=1"
  shift
  if [ $APT_UPDATED = 0 ]; then log "apt-get update"; apt-get update -qq </dev/null; APT_UPDATED=1; fi
  log "apt-get install $*"
  # Without systemd (containers, CI) packages do not start their service: it is started by hand.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" </dev/null >/dev/null
}

# ---------------------------------------------------------------- PostgreSQL
# Run SQL as the postgres superuser: over TCP first (trust on loopback), else over the unix
# socket as the postgres OS user (peer auth on a stock Debian cluster).
pg_sql() {
  if PGPASSWORD=$PG_PASSWORD psql -X -q -w -v ON_ERROR_STOP=1 -h 127.0.0.1 -p 5432 -U postgres -d postgres \
       -c 'select 1' >/dev/null 2>&1; then
    PGPASSWORD=$PG_PASSWORD psql -X -q -w -v ON_ERROR_STOP=1 -h 127.0.0.1 -p 5432 -U postgres -d postgres
  elif [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p 5432 -d postgres
  else
    die "postgres: cannot connect as superuser postgres"
  fi
}
# Prepend `trust` lines for loopback TCP to pg_hba.conf (first match wins), once.
pg_trust_loopback() {
  local hba=$1
  [ -f "$hba" ] || return 0
  grep -q 'pm-agent: trust loopback' "$hba" && return 0
  log "postgres: trust auth for 127.0.0.1 and ::1 in $hba"
  { echo '# pm-agent: trust loopback (test machine; added by scripts/services.sh)'
    echo 'host    all    all    127.0.0.1/32    trust'
    echo 'host    all    all    ::1/128         trust'
    cat "$hba"; } > "$hba.new"
  chown --reference="$hba" "$hba.new"; chmod --reference="$hba" "$hba.new"
  mv "$hba.new" "$hba"
}
start_postgres() {
  local s; s=$(date +%s.%N)
  if port_open 5432; then
    log "postgres: already listening on 5432 — leaving it alone"
  else
    ensure_pkg pg_ctlcluster postgresql
    local ver; ver=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
    [ -n "$ver" ] || die "no PostgreSQL cluster under /etc/postgresql"
    pg_lsclusters -h | grep -q "^$ver main" || pg_createcluster "$ver" main </dev/null >/dev/null
    [ "$PG_TRUST_LOOPBACK" = 1 ] && pg_trust_loopback "/etc/postgresql/$ver/main/pg_hba.conf"
    log "postgres: pg_ctlcluster $ver main start"
    pg_ctlcluster --skip-systemctl-redirect "$ver" main start </dev/null
    echo "$ver" > "$RUN/postgres.version"
    mark postgres
  fi
  wait_for 60 "postgres on 127.0.0.1:5432" pg_isready -q -h 127.0.0.1 -p 5432
  {
    [ -n "$PG_PASSWORD" ] && echo "ALTER ROLE postgres PASSWORD '${PG_PASSWORD}';"
    echo "SELECT 'CREATE DATABASE \"${PG_DATABASE}\"' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname='${PG_DATABASE}')\\gexec"
  } | pg_sql >/dev/null
  PGPASSWORD=$PG_PASSWORD psql -X -w -h 127.0.0.1 -p 5432 -U postgres -d "$PG_DATABASE" -Atc 'select 1' \
    </dev/null >/dev/null 2>&1 || die "postgres: cannot log in as postgres to $PG_DATABASE over TCP"
  log "postgres: ready ($(since "$s")s) postgres://postgres@127.0.0.1:5432/${PG_DATABASE}"
}

# ---------------------------------------------------------------- RabbitMQ
rabbit_ready() { rabbitmqctl -q await_startup --timeout 30 </dev/null >/dev/null 2>&1; }
start_rabbitmq() {
  local s; s=$(date +%s.%N)
  if port_open 5672; then
    # The broker opens its AMQP listener last in its boot: a listening port means ready.
    log "rabbitmq: already listening on 5672 — leaving it alone"
    return 0
  fi
  ensure_pkg rabbitmq-server rabbitmq-server
  local epmd_was_up=0; port_open 4369 && epmd_was_up=1
  # Bind AMQP, epmd and Erlang distribution to loopback when the hostname resolves to loopback
  # (otherwise the CLI could not reach the node through epmd).
  if getent hosts "$(hostname)" | grep -q '^127\.'; then
    export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 ERL_EPMD_ADDRESS=127.0.0.1
    export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
  fi
  log "rabbitmq: rabbitmq-server -detached"
  rabbitmq-server -detached </dev/null >>"$LOGS/rabbitmq-start.log" 2>&1
  mark rabbitmq
  # await_startup fails at once until the node has registered with epmd, so retry it.
  wait_for 120 "rabbitmq await_startup" rabbit_ready
  wait_for 30 "rabbitmq AMQP port 5672" port_open 5672
  if [ $epmd_was_up = 0 ]; then
    ss -ltnpH 'sport = :4369' | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2 > "$RUN/epmd.pid" || true
  fi
  log "rabbitmq: ready ($(since "$s")s) amqp://guest:guest@127.0.0.1:5672"
}

# ---------------------------------------------------------------- Redis (standalone 6379)
redis_pong() { [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]; }
start_redis_standalone() {
  local s; s=$(date +%s.%N)
  if port_open 6379; then
    redis_pong 6379 || die "something that is not Redis listens on 6379"
    log "redis 6379: already running — leaving it alone"; return 0
  fi
  ensure_pkg redis-server redis-server
  mkdir -p "$DATA/redis-6379"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir "$DATA/redis-6379" --logfile "$LOGS/redis-6379.log" --pidfile "$RUN/redis-6379.pid" \
    </dev/null >>"$LOGS/redis-6379.log" 2>&1
  mark redis-6379
  wait_for 20 "redis on 6379" redis_pong 6379
  log "redis 6379: ready ($(since "$s")s) redis://127.0.0.1:6379"
}

# ---------------------------------------------------------------- Redis Cluster 7000-7005
cluster_info() { redis-cli -h 127.0.0.1 -p "$1" cluster info 2>/dev/null | tr -d '\r'; }
cluster_ok_all() {
  local p n; n=$(echo $CLUSTER_PORTS | wc -w)
  for p in $CLUSTER_PORTS; do
    local info; info=$(cluster_info "$p")
    grep -q '^cluster_state:ok' <<<"$info" || return 1
    [ "$(sed -n 's/^cluster_known_nodes://p' <<<"$info")" = "$n" ] || return 1
    [ "$(sed -n 's/^cluster_slots_assigned://p' <<<"$info")" = 16384 ] || return 1
    # no node flagged fail / fail? (pfail) in this node's view
    redis-cli -h 127.0.0.1 -p "$p" cluster nodes 2>/dev/null | awk '$3 ~ /fail/ {bad=1} END {exit bad}' || return 1
  done
}
start_redis_cluster() {
  local s p n; s=$(date +%s.%N)
  n=$(echo $CLUSTER_PORTS | wc -w)
  # Fast path: every node answers and the cluster is healthy — nothing to do.
  if command -v redis-cli >/dev/null 2>&1 && cluster_ok_all; then
    log "redis cluster: already up and healthy on ${CLUSTER_PORTS// /,} — leaving it alone"
    return 0
  fi
  ensure_pkg redis-server redis-server
  for p in $CLUSTER_PORTS; do
    if port_open "$p"; then
      redis_pong "$p" || die "something that is not Redis listens on $p"
      log "redis $p: already running"; continue
    fi
    mkdir -p "$DATA/redis-$p"
    redis-server --port "$p" --bind 127.0.0.1 --daemonize yes \
      --cluster-enabled yes --cluster-config-file "$DATA/redis-$p/nodes.conf" \
      --cluster-node-timeout 5000 --dir "$DATA/redis-$p" --save "" --appendonly no \
      --pidfile "$RUN/redis-$p.pid" --logfile "$LOGS/redis-$p.log" \
      </dev/null >>"$LOGS/redis-$p.log" 2>&1
    mark "redis-$p"
  done
  for p in $CLUSTER_PORTS; do wait_for 20 "redis on $p" redis_pong "$p"; done

  if cluster_ok_all; then
    log "redis cluster: already formed"
  else
    # Nodes restarted with an existing nodes.conf re-form the cluster by themselves: give them a moment.
    local known; known=$(cluster_info "${CLUSTER_PORTS%% *}" | sed -n 's/^cluster_known_nodes://p')
    if [ "${known:-1}" -gt 1 ]; then
      log "redis cluster: nodes know each other, waiting for cluster_state:ok"
      local end=$(( $(date +%s) + 15 ))
      until cluster_ok_all || [ "$(date +%s)" -ge "$end" ]; do sleep 0.3; done
    fi
    if ! cluster_ok_all; then
      log "redis cluster: creating ($n nodes, --cluster-replicas 1)"
      for p in $CLUSTER_PORTS; do   # make every node empty so --cluster create accepts it
        redis-cli -h 127.0.0.1 -p "$p" flushall >/dev/null 2>&1 || true
        redis-cli -h 127.0.0.1 -p "$p" cluster reset hard >/dev/null
      done
      # shellcheck disable=SC2046
      redis-cli --cluster create $(for p in $CLUSTER_PORTS; do printf '127.0.0.1:%s ' "$p"; done) \
        --cluster-replicas 1 --cluster-yes </dev/null > "$LOGS/redis-cluster-create.log" 2>&1 \
        || { cat "$LOGS/redis-cluster-create.log"; die "redis --cluster create failed"; }
    fi
  fi
  wait_for 30 "redis cluster_state:ok on all nodes" cluster_ok_all
  redis-cli --cluster check "127.0.0.1:${CLUSTER_PORTS%% *}" 2>/dev/null | grep -q 'All 16384 slots covered' \
    || die "redis cluster: slots not covered"
  log "redis cluster: ready ($(since "$s")s) nodes 127.0.0.1:{${CLUSTER_PORTS// /,}}"
}

status() {
  local p
  printf '%-14s %s\n' postgres    "$(pg_isready -h 127.0.0.1 -p 5432 2>&1 || true)"
  printf '%-14s %s\n' rabbitmq    "$(port_open 5672 && echo 'listening 5672' || echo down)"
  printf '%-14s %s\n' redis-6379  "$(redis_pong 6379 && echo PONG || echo down)"
  for p in $CLUSTER_PORTS; do
    printf '%-14s %s\n' "redis-$p" "$(redis_pong "$p" && { cluster_info "$p" | grep -E '^cluster_state'; \
      redis-cli -h 127.0.0.1 -p "$p" role 2>/dev/null | head -1; } | tr '\n' ' ' || echo down)"
  done
  printf 'started by services.sh: %s\n' "$(tr '\n' ' ' < "$STARTED")"
}

case "${1:-start}" in
  status) status; exit 0 ;;
  start) ;;
  *) echo "usage: $0 [start|status]" >&2; exit 2 ;;
esac

[ "$WITH_POSTGRES" = 1 ]         && start_postgres
[ "$WITH_RABBITMQ" = 1 ]         && start_rabbitmq
[ "$WITH_REDIS_STANDALONE" = 1 ] && start_redis_standalone
[ "$WITH_REDIS_CLUSTER" = 1 ]    && start_redis_cluster
log "all requested services ready"
