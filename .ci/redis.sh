#!/usr/bin/env bash
# Makes sure Redis answers at 127.0.0.1:6379 for the hub's Redis tests,
# which fail (never skip) without it, and that `redis-server` is on PATH:
# some tests start servers of their own. Installs redis-server with apt-get
# if it is missing (or fails naming it), and starts it if nothing answers.
set -euo pipefail
. "$(dirname "$0")/install.sh"

ping() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

need redis-server redis-server "the Redis tests talk to 127.0.0.1:6379 and start servers of their own"
# Debian packages Sentinel apart; the tests start their sentinels as
# `redis-server --sentinel` (the same program), which the package's
# service setup also needs.
need redis-sentinel redis-sentinel "tests/hub_sentinel.rs runs a Sentinel topology (one primary, one replica, three sentinels)"
need redis-cli redis-tools "it tells whether Redis answers at 127.0.0.1:6379"
if ping; then
    echo "redis: answering at 127.0.0.1:6379"
    exit 0
fi
redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
for _ in $(seq 1 50); do
    if ping; then
        echo "redis: started at 127.0.0.1:6379"
        exit 0
    fi
    sleep 0.1
done
echo "redis: ERROR: nothing answers at 127.0.0.1:6379; the Redis tests will fail" >&2
exit 1
