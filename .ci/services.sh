#!/usr/bin/env bash
# Start PostgreSQL and Redis for the integration tier when they are not running.
set -euo pipefail

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "kjflow: starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 0.2; done
fi
redis-cli -h 127.0.0.1 ping >/dev/null || { echo "kjflow: Redis did not start" >&2; exit 1; }

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "kjflow: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
  for _ in $(seq 100); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
fi
pg_isready -q -h 127.0.0.1 -p 5432 || { echo "kjflow: PostgreSQL did not start" >&2; exit 1; }

# The test database, owned by postgres with trust auth on this machine.
if ! psql -h 127.0.0.1 -U postgres -d test -c "select 1" >/dev/null 2>&1; then
  psql -h 127.0.0.1 -U postgres -d postgres -c "create database test" >/dev/null 2>&1 \
    || su postgres -c "createdb test" || true
fi
psql -h 127.0.0.1 -U postgres -d test -c "select 1" >/dev/null \
  || { echo "kjflow: cannot reach database 'test' as postgres on 127.0.0.1" >&2; exit 1; }
