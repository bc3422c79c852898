#!/usr/bin/env bash
# The hub's front door under load, side by side with nginx, on loopback:
#
#   1. cached GET token reads with keep-alive: `wrk -t2 -c64 -d10s` against
#      wechat-hub, then against nginx serving a static JSON body of the same
#      size (asked: >= 30,000 req/s, p99 < 5 ms, >= 0.3 of nginx);
#   2. token reads (`wrk -t1 -c8 -d10s`) while 1,000 connections send a
#      request head one byte a second (asked: p99 < 50 ms, hub RSS < 64 MiB);
#   3. 10,000 idle keep-alive connections opened and held, token reads
#      meanwhile (asked: the hub answers, its memory bounded).
#
# Each figure gets a fresh hub (memory store, default settings, request log
# on, to a file). Run from the repository root:
#
#   bash benches/hub_load.sh            # ROUNDS=2 by default
#
# Needs wrk and nginx (`apt-get install wrk nginx-light`) and an open-file
# limit of at least 12,000 (raised here as far as allowed). Nothing
# leaves this machine: the hub's upstream is the crate's fake WeChat.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-2}
HUB_PORT=${HUB_PORT:-4711}
NGINX_PORT=${NGINX_PORT:-4712}
for tool in wrk nginx curl; do
  command -v "$tool" >/dev/null || { echo "hub_load: $tool is missing (apt-get install wrk nginx-light curl)" >&2; exit 1; }
done
ulimit -Hn 65536 2>/dev/null || true
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 12000 ]; then
  echo "hub_load: open-file limit $(ulimit -n) is below 12,000; raise the hard limit" >&2
  exit 1
fi

cargo build --quiet --release --features hub --bin wechat-hub --example hub_load
HUB_BIN=target/release/wechat-hub
LOAD_BIN=target/release/examples/hub_load

WORK=$(mktemp -d /tmp/hub_load.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
}
trap cleanup EXIT

"$LOAD_BIN" upstream > "$WORK/upstream.url" &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$WORK/upstream.url" ] && break; sleep 0.05; done
UPSTREAM=$(cat "$WORK/upstream.url")

cat > "$WORK/hub.toml" <<EOF
bind = "127.0.0.1:$HUB_PORT"
upstream = "$UPSTREAM"
[store]
kind = "memory"
[[account]]
appid = "wx_bench"
secret_env = "HUB_LOAD_SECRET"
EOF
TOKEN_URL="http://127.0.0.1:$HUB_PORT/client/access_token?appid=wx_bench"
HUB_PID=
start_hub() {
  HUB_LOAD_SECRET=bench-secret "$HUB_BIN" --config "$WORK/hub.toml" 2>>"$WORK/hub.log" &
  HUB_PID=$!
  PIDS+=("$HUB_PID")
  for _ in $(seq 200); do curl -fs "$TOKEN_URL" -o "$WORK/token.json" && return; sleep 0.05; done
  echo "hub_load: the hub did not answer; its log:" >&2; cat "$WORK/hub.log" >&2; exit 1
}
stop_hub() { kill -TERM "$HUB_PID"; wait "$HUB_PID" 2>/dev/null || true; }
# VmRSS and VmHWM (peak) of the hub, in MiB.
rss() { awk '/^VmRSS/ {r=$2} /^VmHWM/ {h=$2} END {printf "%.1f / %.1f", r/1024, h/1024}' "/proc/$HUB_PID/status"; }
# req/s and p99 (ms) from wrk's output.
wrk_figures() {
  awk '/Requests\/sec/ {rps=$2}
       $1 == "99%" { v=$2; u=v; gsub(/[0-9.]/, "", u); gsub(/[a-z]/, "", v);
                     p99 = (u == "us") ? v/1000 : (u == "s") ? v*1000 : v }
       /Non-2xx/ {bad=$NF}
       END {printf "%.0f req/s, p99 %.2f ms%s", rps, p99, (bad ? ", " bad " non-2xx" : "")}' "$1"
}

start_hub
stop_hub
mkdir -p "$WORK/www" "$WORK/nginx-logs"
cp "$WORK/token.json" "$WORK/www/token.json"
# nginx's workers read the body as an unprivileged user.
chmod a+rx "$WORK" "$WORK/www" && chmod a+r "$WORK/www/token.json"
cat > "$WORK/nginx.conf" <<EOF
worker_processes auto;
pid $WORK/nginx.pid;
error_log $WORK/nginx-logs/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $WORK/www;
    location / { default_type application/json; }
  }
}
EOF
nginx -c "$WORK/nginx.conf" -p "$WORK"
NGINX_URL="http://127.0.0.1:$NGINX_PORT/token.json"
cmp -s <(curl -fs "$NGINX_URL") "$WORK/token.json" || { echo "hub_load: nginx does not serve the body" >&2; exit 1; }

echo "# hub_load: $(nproc) CPUs, body $(wc -c < "$WORK/token.json") bytes, $ROUNDS round(s)"
for round in $(seq "$ROUNDS"); do
  echo
  echo "## round $round ($(uptime | sed 's/.*load/load/'))"
  echo
  echo "| figure | hub | nginx / other |"
  echo "| --- | --- | --- |"

  start_hub
  wrk -t2 -c64 -d10s --latency "$TOKEN_URL" > "$WORK/wrk-hub.txt"
  wrk -t2 -c64 -d10s --latency "$NGINX_URL" > "$WORK/wrk-nginx.txt"
  hub_rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk-hub.txt")
  nginx_rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk-nginx.txt")
  echo "| 1. keep-alive token reads, wrk -t2 -c64 -d10s | $(wrk_figures "$WORK/wrk-hub.txt"), RSS $(rss) MiB | nginx $(wrk_figures "$WORK/wrk-nginx.txt"); hub/nginx $(awk -v h="$hub_rps" -v n="$nginx_rps" 'BEGIN {printf "%.2f", h/n}') |"
  stop_hub

  start_hub
  "$LOAD_BIN" slow 1000 "127.0.0.1:$HUB_PORT" 25 > "$WORK/slow.txt" &
  slow_pid=$!
  PIDS+=("$slow_pid")
  sleep 5
  open=$(curl -s "http://127.0.0.1:$HUB_PORT/metrics" | awk '/^wechat_hub_open_connections/ {print $2}')
  wrk -t1 -c8 -d10s --latency "$TOKEN_URL" > "$WORK/wrk-slow.txt"
  echo "| 2. token reads, wrk -t1 -c8 -d10s, 1,000 slow-loris connections | $(wrk_figures "$WORK/wrk-slow.txt"), RSS $(rss) MiB | $open connections open at the start |"
  wait "$slow_pid" || true
  echo "| | | $(cat "$WORK/slow.txt") |"
  stop_hub

  start_hub
  "$LOAD_BIN" idle 10000 "127.0.0.1:$HUB_PORT" 25 > "$WORK/idle.txt" &
  idle_pid=$!
  PIDS+=("$idle_pid")
  for _ in $(seq 600); do grep -q held "$WORK/idle.txt" 2>/dev/null && break; sleep 0.1; done
  open=$(curl -s "http://127.0.0.1:$HUB_PORT/metrics" | awk '/^wechat_hub_open_connections/ {print $2}')
  wrk -t1 -c8 -d5s --latency "$TOKEN_URL" > "$WORK/wrk-idle.txt"
  echo "| 3. token reads, wrk -t1 -c8 -d5s, 10,000 idle keep-alive connections | $(wrk_figures "$WORK/wrk-idle.txt"), RSS $(rss) MiB | $open connections open; $(head -1 "$WORK/idle.txt") |"
  wait "$idle_pid" || true
  echo "| | | $(tail -1 "$WORK/idle.txt") |"
  stop_hub
done
echo
echo "RSS is VmRSS / VmHWM (peak) of the wechat-hub process. Logs: $WORK"
