#!/usr/bin/env bash
# Makes sure Redis answers at 127.0.0.1:6379 for the hub's Redis tests,
# which fail (never skip) without it. Starts redis-server if it is
# installed and not answering; installs it with apt-get if it is missing.
set -euo pipefail

ping() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

if command -v redis-cli >/dev/null 2>&1 && ping; then
    echo "redis: answering at 127.0.0.1:6379"
    exit 0
fi
if ! command -v redis-server >/dev/null 2>&1; then
    echo "redis: redis-server not installed; installing with apt-get"
    apt-get update -qq && apt-get install -y -qq redis-server >/dev/null
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
