#!/usr/bin/env bash
# Run the examples on minikube: start a cluster, build the examples image inside it, deploy
# Redis, MariaDB and echo StatefulSets, run each example as a Job and show its logs, drill a
# failover on Redis and on MariaDB while the examples run, and tear down.
#
#   examples/minikube.sh            # everything, then asks before tearing down
#   examples/minikube.sh up         # cluster, image, StatefulSets
#   examples/minikube.sh run        # the example Jobs and their logs
#   examples/minikube.sh failover   # kill the Redis master, promote a MariaDB replica
#   examples/minikube.sh down       # delete everything (minikube delete)
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE="${MINIKUBE_PROFILE:-discovery}"
K8S=examples/k8s

say() { printf '\n== %s\n' "$*"; }
kc() { kubectl --context "$PROFILE" "$@"; }

check_prerequisites() {
  local missing=()
  for tool in minikube kubectl; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "missing: ${missing[*]} (see examples/README.md, step 1)" >&2
    exit 1
  fi
}

up() {
  say "starting minikube (profile $PROFILE)"
  minikube start -p "$PROFILE" --cpus=2 --memory=4096
  say "building the examples image inside minikube"
  minikube -p "$PROFILE" image build -f examples/Dockerfile -t discovery-examples:latest .
  say "deploying Redis, MariaDB and echo StatefulSets"
  kc apply -f "$K8S/redis.yaml" -f "$K8S/mysql.yaml" -f "$K8S/echo.yaml"
  for set in redis mysql echo; do
    kc rollout status "statefulset/$set" --timeout=600s
  done
}

run_jobs() {
  say "running the example Jobs"
  kc delete -f "$K8S/jobs.yaml" --ignore-not-found
  kc apply -f "$K8S/jobs.yaml"
  kc wait --for=condition=complete job/echo-balance --timeout=300s
  kc logs job/echo-balance | tail -n 5
  say "redis_master_replica and mysql_read_write (first lines)"
  sleep 10
  kc logs job/redis-master-replica | head -n 8
  kc logs job/mysql-read-write | head -n 8
}

failover() {
  say "Redis: deleting the master pod redis-0 while redis_master_replica runs"
  # Without Sentinel nobody promotes a replica: promote redis-1 by hand, repoint redis-2,
  # and let redis-0 come back as a replica of redis-1.
  kc delete pod redis-0 --wait=false
  kc exec redis-1 -- redis-cli replicaof no one
  # shellcheck disable=SC2016 # expanded inside the pod, where POD_NAMESPACE is set
  local follow='redis-cli replicaof "redis-1.redis.$POD_NAMESPACE.svc.cluster.local" 6379'
  kc exec redis-2 -- sh -c "$follow"
  kc wait --for=condition=ready pod/redis-0 --timeout=300s
  kc exec redis-0 -- sh -c "$follow"

  say "MariaDB: promoting mysql-1 (mysql-0 turns read-only and follows it)"
  local root
  root="$(kc get secret mysql -o jsonpath='{.data.root-password}' | base64 -d)"
  local repl
  repl="$(kc get secret mysql -o jsonpath='{.data.replication-password}' | base64 -d)"
  kc exec mysql-0 -- mariadb -uroot -p"$root" -e 'SET GLOBAL read_only = 1'
  kc exec mysql-1 -- mariadb -uroot -p"$root" -e 'STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = 0'
  for pod in mysql-0 mysql-2; do
    kc exec "$pod" -- mariadb -uroot -p"$root" -e "STOP SLAVE; CHANGE MASTER TO MASTER_HOST='mysql-1.mysql', MASTER_USER='repl', MASTER_PASSWORD='$repl', MASTER_USE_GTID=current_pos; START SLAVE"
  done

  say "what the examples saw (last lines)"
  sleep 5
  kc logs job/redis-master-replica | tail -n 8
  kc logs job/mysql-read-write | tail -n 8
}

down() {
  say "deleting minikube profile $PROFILE"
  minikube delete -p "$PROFILE"
}

check_prerequisites
case "${1:-all}" in
  up) up ;;
  run) run_jobs ;;
  failover) failover ;;
  down) down ;;
  all)
    up
    run_jobs
    failover
    read -r -p "tear down the cluster? [y/N] " answer
    if [ "$answer" = y ]; then down; fi
    ;;
  *)
    echo "usage: $0 [up|run|failover|down]" >&2
    exit 2
    ;;
esac
