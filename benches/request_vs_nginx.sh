#!/usr/bin/env bash
# A warm `Client::request` side by side with bare ureq and wrk, all against
# one nginx answering a static JSON body with keep-alive on loopback
# (issue 13's table): calls/s for
#
#   - `wrk -t1 -c1 -d10s` (the floor for one connection),
#   - `Client::request` (warm token),
#   - a bare ureq agent with no timeouts,
#   - a bare ureq agent with the client's timeouts (5 s connect, 30 s overall),
#
# each 20,000 sequential calls (median of ROUNDS rounds, taken in turn so
# that load on the machine touches all alike), and the ratios the issue
# asks for: request / bare ureq without timeouts >= 0.95, request / wrk
# >= 0.5. Then, unless CALLGRIND=0, the instructions per call of each client
# under `valgrind --tool=callgrind` (repeatable on a busy machine, unlike
# the times). Run from the repository root:
#
#   bash benches/request_vs_nginx.sh        # ROUNDS=5 CALLS=20000 by default
#
# Needs nginx and wrk (`apt-get install nginx-light wrk`), and valgrind for
# the instruction counts. Nothing leaves this machine.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
CALLS=${CALLS:-20000}
CALLGRIND=${CALLGRIND:-1}
PORT=${NGINX_PORT:-4713}
PATH_QUERY="/cgi-bin/get_api_domain_ip"
for tool in nginx wrk curl; do
  command -v "$tool" >/dev/null || { echo "request_vs_nginx: $tool is missing" >&2; exit 1; }
done

cargo build --quiet --release --example profile_request
BIN=target/release/examples/profile_request

WORK=$(mktemp -d /tmp/request_vs_nginx.XXXXXX)
cleanup() {
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
}
trap cleanup EXIT

# The body the benches' own responder sends (benches/common), as WeChat's
# get_api_domain_ip answers.
BODY='{"ip_list":["101.226.103.0/25","101.226.233.128/25","58.247.206.128/25","182.254.11.0/24"]}'
mkdir -p "$WORK/logs"
cat > "$WORK/nginx.conf" <<CONF
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/logs/error.log;
events { worker_connections 64; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  server {
    listen 127.0.0.1:$PORT;
    location = $PATH_QUERY {
      default_type application/json;
      return 200 '$BODY';
    }
  }
}
CONF
nginx -c "$WORK/nginx.conf" -p "$WORK"
URL="http://127.0.0.1:$PORT$PATH_QUERY?access_token=$(printf 'T%.0s' $(seq 150))"
for _ in $(seq 100); do curl -fs "$URL" >/dev/null 2>&1 && break; sleep 0.05; done
[ "$(curl -fs "$URL")" = "$BODY" ] || { echo "request_vs_nginx: nginx does not serve the body" >&2; exit 1; }

echo "# request_vs_nginx: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $CALLS calls x $ROUNDS rounds"
wrk -t1 -c1 -d10s "$URL" > "$WORK/wrk.txt"
wrk_rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.txt")
echo "wrk -t1 -c1 -d10s: $wrk_rps calls/s"
ROUNDS=$ROUNDS "$BIN" "127.0.0.1:$PORT" "$CALLS" | tee "$WORK/clients.txt"
request_rps=$(awk '/^wechat:/ {print $(NF-1)}' "$WORK/clients.txt")
awk -v r="$request_rps" -v w="$wrk_rps" 'BEGIN {printf "request / wrk -t1 -c1: %.3f (asked: >= 0.5)\n", r / w}'

if [ "$CALLGRIND" != 0 ] && command -v valgrind >/dev/null; then
  n=2000
  for which in wechat no_timeouts same_config; do
    valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.$which" \
      --toggle-collect='*profile_request::calls*' \
      "$BIN" "127.0.0.1:$PORT" "$n" "$which" > /dev/null 2> "$WORK/cg.$which.log"
    total=$(awk '/^summary:/ {print $2}' "$WORK/cg.$which")
    # The warm-up call is collected too: n + 1 calls.
    echo "callgrind $which: $((total / (n + 1))) instructions per call"
  done
fi
