#!/usr/bin/env bash
# The red team of issue 15 as a soak a person can run: `celgate serve` on loopback with the limits
# of deploy/20-configmap.yaml, attacked phase by phase while its RSS is sampled every 100 ms
# (/proc/PID/status). Prints, per phase, what the attack got and the peak RSS, next to a baseline
# from the same run (idle, and a plain review), and checks the peak against the memory limit of
# deploy/30-deployment.yaml. Figures are not asserted by the test suite (timing and memory depend
# on the machine); this script is where they are measured.
#
#   scripts/redteam-soak.sh
#   CELGATE_BIN=target/release/celgate scripts/redteam-soak.sh   # another build (default: debug)
#   KEEP=1 scripts/redteam-soak.sh                                # keep the work folder and log
#
# Phases: a YAML alias bomb (1 and 3 at once) to /v1/check; 300 HTTP/1.1 connections each sending
# 3 MiB - 1 byte of a body and stopping; one HTTP/2 connection with 256 such streams; reviews of
# 50 000 and 100 000 small containers to /validate and /v1/check; probes while 4 such reviews
# are judged; the ?timeout= overflow; a 20 MB body over HTTP/2 (curl).
#
# Needs: cargo, curl, python3. Only 127.0.0.1 is contacted; the server is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${CELGATE_BIN:-}
if [ -z "$BIN" ]; then
    cargo build --quiet --bin celgate
    BIN="${CARGO_TARGET_DIR:-target}/debug/celgate"
fi
cargo build --quiet --example redteam-client
CLIENT="${CARGO_TARGET_DIR:-target}/debug/examples/redteam-client"
command -v curl >/dev/null || { echo "curl is required" >&2; exit 1; }

WORK=$(mktemp -d)
PORT=$((20000 + RANDOM % 20000))
ADMIN=$((PORT + 1))
SERVER_PID=""
SAMPLER_PID=""
cleanup() {
    [ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null || true
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    if [ -n "${KEEP:-}" ]; then echo "work folder: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# The limits block of deploy/20-configmap.yaml, with loopback addresses.
limits=$(awk '/^    limits:/{on=1; print; next} on && /^    [a-z]/{on=0} on' deploy/20-configmap.yaml)
cat > "$WORK/celgate.yaml" <<EOF
listen: 127.0.0.1:$PORT
adminListen: 127.0.0.1:$ADMIN
certDir: $WORK/certs
$(echo "$limits" | sed 's/^    //')
EOF
# A debug build judges about ten times slower than a release build: give it time to answer
# the 100 000-container reviews rather than measure its timeouts.
if [[ "$BIN" == *debug* ]]; then
    sed -i 's/requestTimeoutMs: .*/requestTimeoutMs: 60000/' "$WORK/celgate.yaml"
    echo "debug build: requestTimeoutMs 60000 (times are a debug build's; memory is comparable)"
fi
MEMORY_LIMIT_MIB=$(awk '/limits:/{on=1} on && /memory:/{gsub(/[^0-9]/,"",$2); print $2; exit}' deploy/30-deployment.yaml)

CELGATE_LOG=warn "$BIN" serve --config "$WORK/celgate.yaml" 2> "$WORK/server.log" &
SERVER_PID=$!
for _ in $(seq 1 300); do
    curl -fsS "http://127.0.0.1:$ADMIN/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS "http://127.0.0.1:$ADMIN/readyz" >/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
CA="$WORK/certs/ca.crt"
URL="https://127.0.0.1:$PORT"

# RSS sampler: "<epoch ms> <kB>" lines.
(while kill -0 "$SERVER_PID" 2>/dev/null; do
    echo "$(date +%s%3N) $(awk '/VmRSS/{print $2}' "/proc/$SERVER_PID/status" 2>/dev/null)"
    sleep 0.1
done) > "$WORK/rss" &
SAMPLER_PID=$!

rss_now() { awk '/VmRSS/{printf "%.0f", $2/1024}' "/proc/$SERVER_PID/status"; }
# Peak RSS (MiB) sampled since the epoch-ms $1.
peak_since() { awk -v t="$1" '$1 >= t && $2 > m {m=$2} END {printf "%.0f", m/1024}' "$WORK/rss"; }
now_ms() { date +%s%3N; }
RESULTS="$WORK/results"
: > "$RESULTS"
record() { printf '%-44s %-58s %6s MiB\n' "$1" "$2" "$3" | tee -a "$RESULTS"; }
alive() { kill -0 "$SERVER_PID" 2>/dev/null || { echo "SERVER DIED during $1" | tee -a "$RESULTS"; tail -5 "$WORK/server.log"; exit 1; }; }

# ---- inputs
python3 - "$WORK" <<'EOF'
import json, sys
work = sys.argv[1]
def deployment(n):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": 2, "template": {"spec": {"containers":
                [{"name": f"c{i}", "image": "x"} for i in range(n)]}}}}
review = json.load(open("tests/fixtures/admission/allow.json"))
for n in (50000, 100000):
    r = json.loads(json.dumps(review))
    r["request"]["object"] = deployment(n)
    json.dump(r, open(f"{work}/review-{n}.json", "w"), separators=(",", ":"))
    json.dump(deployment(n), open(f"{work}/check-{n}.json", "w"), separators=(",", ":"))
bomb = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\nanchor: &s \"" + "x" * 100000 + "\"\ndata:\n"
bomb += "".join(f"  k{i}: *s\n" for i in range(1000))
open(f"{work}/bomb.yaml", "w").write(bomb)
open(f"{work}/large.bin", "wb").write(b" " * (20 * 1024 * 1024))
EOF
ls -l "$WORK"/review-*.json "$WORK"/bomb.yaml | awk '{print "input:", $9, $5, "bytes"}'

echo
printf '%-44s %-58s %10s\n' "phase" "result" "peak RSS"
sleep 2
record "baseline: idle" "-" "$(rss_now)"
t=$(now_ms)
for _ in $(seq 1 20); do
    curl -sS --cacert "$CA" -o /dev/null -H 'Content-Type: application/json' \
        --data-binary @tests/fixtures/admission/allow.json "$URL/validate"
done
sleep 0.3
record "baseline: 20 plain reviews" "200" "$(peak_since "$t")"

t=$(now_ms)
status=$(curl -sS --cacert "$CA" -o "$WORK/bomb.out" -w '%{http_code}' -H 'Content-Type: application/yaml' \
    --data-binary @"$WORK/bomb.yaml" "$URL/v1/check")
sleep 0.3; alive "the alias bomb"
record "1: alias bomb (100 KB -> 100 MB) /v1/check" "$status $(head -c 60 "$WORK/bomb.out")" "$(peak_since "$t")"
t=$(now_ms)
"$CLIENT" "127.0.0.1:$PORT" "$CA" post /v1/check application/yaml "$WORK/bomb.yaml" 3 > "$WORK/out" || true
sleep 0.3; alive "three alias bombs"
record "1: three alias bombs at once" "$(head -1 "$WORK/out")" "$(peak_since "$t")"

t=$(now_ms)
"$CLIENT" "127.0.0.1:$PORT" "$CA" stall-h1 300 $((3 * 1024 * 1024 - 1)) 45 > "$WORK/out" || true
alive "stalled HTTP/1.1 bodies"
record "3: 300 conns x (3 MiB - 1), stop (h1)" "$(cut -c1-58 "$WORK/out")" "$(peak_since "$t")"
t=$(now_ms)
"$CLIENT" "127.0.0.1:$PORT" "$CA" stall-h2 256 $((3 * 1024 * 1024 - 1)) 45 > "$WORK/out" || true
alive "stalled HTTP/2 streams"
record "3: 1 h2 conn, 256 streams x (3 MiB - 1)" "$(cut -c1-58 "$WORK/out")" "$(peak_since "$t")"

for n in 50000 100000; do
    t=$(now_ms)
    "$CLIENT" "127.0.0.1:$PORT" "$CA" post /validate application/json "$WORK/review-$n.json" 1 > "$WORK/out" || true
    alive "a review of $n containers"
    record "4: /validate, $n containers" "$(tr '\n' ' ' < "$WORK/out" | cut -c1-58)" "$(peak_since "$t")"
    t=$(now_ms)
    "$CLIENT" "127.0.0.1:$PORT" "$CA" post /v1/check application/json "$WORK/check-$n.json" 1 > "$WORK/out" || true
    alive "a check of $n containers"
    record "4: /v1/check, $n containers" "$(tr '\n' ' ' < "$WORK/out" | cut -c1-58)" "$(peak_since "$t")"
done

t=$(now_ms)
"$CLIENT" "127.0.0.1:$PORT" "$CA" post /validate application/json "$WORK/review-100000.json" 4 > "$WORK/out" &
LOAD=$!
sleep 0.5
slowest=0
for _ in $(seq 1 10); do
    for probe in livez readyz; do
        took=$(curl -sS -o /dev/null -w '%{time_total}' "http://127.0.0.1:$ADMIN/$probe")
        slowest=$(awk -v a="$slowest" -v b="$took" 'BEGIN {print (b > a) ? b : a}')
    done
    sleep 0.1
done
wait "$LOAD" || true
alive "probes under load"
record "6: probes during 4 x 100 000 containers" "slowest probe $(awk -v s="$slowest" 'BEGIN {printf "%.0f ms", s * 1000}'); $(tr '\n' ' ' < "$WORK/out" | cut -c1-30)" "$(peak_since "$t")"

t=$(now_ms)
status=$(curl -sS --cacert "$CA" -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary @tests/fixtures/admission/allow.json \
    "$URL/validate?timeout=10000000000000000000s10000000000000000000s")
in_flight=$(curl -sS "http://127.0.0.1:$ADMIN/metrics" | awk '/^celgate_in_flight_requests /{print $2}')
record "5: ?timeout= overflow" "$status, in flight after: $in_flight" "$(peak_since "$t")"

t=$(now_ms)
ok=0
for _ in 1 2 3 4 5; do
    code=$(curl -sS --http2 --cacert "$CA" -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
        --data-binary @"$WORK/large.bin" "$URL/v1/check" 2>/dev/null || true)
    [ "$code" = 413 ] && ok=$((ok + 1))
done
record "8: 20 MB body over h2 (curl), 5 tries" "$ok of 5 got the whole 413" "$(peak_since "$t")"

overall=$(awk '{ if ($2 > m) m = $2 } END {printf "%.0f", m/1024}' "$WORK/rss")
echo
echo "peak RSS over the whole run: $overall MiB; deploy/ memory limit: ${MEMORY_LIMIT_MIB} MiB"
if [ "$overall" -lt "$MEMORY_LIMIT_MIB" ]; then echo "within the deploy limit"; else echo "ABOVE the deploy limit"; fi
panics=$(grep -c '"panic"' "$WORK/server.log" || true)
echo "panics logged: $panics; server log lines that are not JSON: $(grep -vc '^{' "$WORK/server.log" || true)"
