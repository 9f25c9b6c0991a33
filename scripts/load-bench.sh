#!/usr/bin/env bash
# Load benchmark of `celgate serve` (the admission webhook server) on loopback, next to a ceiling
# measured in the same run: benches/echo-server, the same TLS stack (tokio + hyper 1 + rustls with
# ring) serving the same certificate and answering every POST with its request body.
#
# Each phase runs $DURATION seconds (default 10), first against celgate's POST /validate with
# benches/fixtures/admission-review.json (an AdmissionReview v1 CREATE of an apps/v1 Deployment in
# namespace clinical, Content-Type: application/json), then the same against the echo server:
#   1. fixed rate, $RATE req/s (default 1000), with hey: p50/p99/max, non-2xx and transport errors
#   2. maximum rate with wrk -t2 -c64 --latency (a Lua script sends the POST): req/s, percentiles
# Then, as a third server, celgate with a one-rule pack at maximum rate: the server's own cost
# (TLS, HTTP, parsing the review, the answer, metrics, the log line) without the shipped packs.
# Then the audit phases below (shipped packs, the audit trail off, on and required), and celgate's
# RSS and a summary against the goals: p99 at 1000 req/s <= 2 ms, and celgate's maximum rate
# >= 70 % of the echo server's. The summary gives every celgate maximum rate (shipped packs,
# one-rule pack, audit on and required) as a % of the echo server's in the same run.
#
#   scripts/load-bench.sh
#   DURATION=5 scripts/load-bench.sh        # seconds per phase (whole number)
#   KEEP=1 scripts/load-bench.sh            # keep the work folder (certs, server log, tool output)
#   NO_PIN=1 scripts/load-bench.sh          # no taskset pinning
#   LATENCY_TOOL=wrk scripts/load-bench.sh  # phase 1 with the wrk fallback instead of hey
#   CELGATE_LOG=warn scripts/load-bench.sh  # without celgate's per-review log line (default: info)
#   HEY_WORKERS=20 scripts/load-bench.sh    # phase 1 in bursts of 20 (see HEY_WORKERS below)
#   AUDIT_ONLY=1 scripts/load-bench.sh      # only the audit phases below (no echo, no floor)
#   CELGATE_BIN=target/debug/celgate AUDIT_ONLY=1 scripts/load-bench.sh   # an existing binary, no build
#   AUDIT_FLOOR=1 AUDIT_ONLY=1 scripts/load-bench.sh   # audit phases with the one-rule pack (the
#                                           # audit trail's share without the engine's)
#
# Audit phases (issue 15): the same two phases against celgate with the audit trail off, on
# (`audit: {dir}`, fsync interval, answers never wait) and on with `required: true` (an answer
# leaves only once its record is written and synced; group commit), the audit folder in the work
# folder (on $TMPDIR's disk). The summary prints what `required` costs against the other two, and
# (in a full run) each audit phase's maximum rate as a % of the echo server's.
#
# Needs: cargo, curl, awk. Installs wrk and hey with apt-get when missing (apt-get update once;
# root, or sudo). If hey is not packaged, phase 1 falls back to wrk paced by a Lua delay() (an
# approximate, closed-loop rate; the output says so). Debian has neither wrk2 nor vegeta.
#
# Only 127.0.0.1 is contacted; every phase is bounded by `timeout`; every process this script
# starts is stopped on exit. TLS: the load tools do not verify the server certificate (hey always
# skips verification and has no CA flag; wrk never verifies), which is acceptable on loopback; one
# request per server is first sent with curl --cacert against the dev CA celgate created.
# On a 2-core machine the load generator competes with the server for CPU: with taskset (and at
# least 2 CPUs) the server is pinned to CPU 1 and the load generator to CPU 0. Pinning also makes
# both servers size their runtimes (and celgate its evaluation limit) for 1 CPU.
set -euo pipefail

DURATION="${DURATION:-10}"
RATE="${RATE:-1000}"
# hey paces each worker with its own ticker, and the workers start together: every tick is a burst
# of HEY_WORKERS requests, and the p99 grows with the burst (one probe of celgate at 1000 req/s on
# 2 cores: 2 workers 1.7 ms, 4 workers 2.1 ms, 10 workers 5.7 ms, 20 workers 14 ms). 4 workers x
# 250 req/s is a middle ground between smooth and bursty arrivals that still holds the rate: a
# worker whose response takes over 4 ms skips a tick, which shows as an achieved rate below $RATE
# (closed loop, so tails are understated).
HEY_WORKERS="${HEY_WORKERS:-4}"
WRK_THREADS=2
WRK_CONNECTIONS=64
GOAL_P99_MS=2
GOAL_RATIO_PCT=70
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
FIXTURE="$ROOT/benches/fixtures/admission-review.json"

say() { printf '%s\n' "$*"; }
die() { printf 'load-bench: %s\n' "$*" >&2; exit 2; }

for tool in cargo curl awk timeout; do
    command -v "$tool" >/dev/null || die "$tool is needed"
done
[[ -f "$FIXTURE" ]] || die "missing $FIXTURE"

# --- processes and cleanup ----------------------------------------------------------------------
PIDS=()
WORK=""
cleanup() {
    local rc=$? pid i
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n "$WORK" && -z "${KEEP:-}" ]]; then rm -rf "$WORK"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

forget() { # forget PID: it has ended and was waited for
    local keep=() pid
    for pid in "${PIDS[@]}"; do [[ "$pid" == "$1" ]] || keep+=("$pid"); done
    PIDS=("${keep[@]}")
}

# --- build --------------------------------------------------------------------------------------
if [[ -n "${CELGATE_BIN:-}" ]]; then
    CELGATE="$(cd "$(dirname "$CELGATE_BIN")" && pwd)/$(basename "$CELGATE_BIN")"
    [[ -x "$CELGATE" ]] || die "CELGATE_BIN=$CELGATE_BIN is not an executable"
    say "== using $CELGATE (CELGATE_BIN; not rebuilt)"
else
    say "== building celgate (release)"
    cargo build --release --quiet
    CELGATE="${CARGO_TARGET_DIR:-$ROOT/target}/release/celgate"
fi
if [[ -z "${AUDIT_ONLY:-}" ]]; then
    say "== building benches/echo-server (release)"
    cargo build --release --quiet --manifest-path benches/echo-server/Cargo.toml
fi
# Its own workspace: built in benches/echo-server/target, or in CARGO_TARGET_DIR when set.
ECHO="${CARGO_TARGET_DIR:-$ROOT/benches/echo-server/target}/release/echo-server"

# --- tools --------------------------------------------------------------------------------------
as_root() {
    if [[ $EUID -eq 0 ]]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else die "need root (or sudo) to run: $*"
    fi
}
apt_candidate() { # prints the candidate version of a Debian package, nothing when none
    apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ && $2 != "(none)" { print $2 }'
}
LATENCY_TOOL="${LATENCY_TOOL:-hey}"
if ! command -v wrk >/dev/null || { [[ "$LATENCY_TOOL" == hey ]] && ! command -v hey >/dev/null; }; then
    command -v apt-get >/dev/null || die "wrk/hey are missing and there is no apt-get"
    say "== installing load tools with apt-get"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    wanted=(wrk)
    if [[ "$LATENCY_TOOL" == hey ]]; then
        if [[ -n "$(apt_candidate hey)" ]]; then
            wanted+=(hey)
        else
            say "hey is not packaged here; phase 1 falls back to wrk paced by Lua delay()"
            LATENCY_TOOL=wrk
        fi
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${wanted[@]}" >/dev/null
fi
command -v wrk >/dev/null || die "wrk is still missing"
[[ "$LATENCY_TOOL" == hey || "$LATENCY_TOOL" == wrk ]] || die "LATENCY_TOOL must be hey or wrk"

pkg_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "not from dpkg"; }
WRK_DESC="wrk $(pkg_version wrk) ($(command -v wrk))"
if [[ "$LATENCY_TOOL" == hey ]]; then
    LATENCY_DESC="hey $(pkg_version hey) ($(command -v hey)), -c $HEY_WORKERS workers x -q $(awk -v r="$RATE" -v w="$HEY_WORKERS" 'BEGIN { print r / w }') req/s each"
else
    LATENCY_DESC="wrk paced by Lua delay() (fallback: approximate closed-loop rate)"
fi

GEN_PIN=()
SERVER_PIN=()
if [[ -z "${NO_PIN:-}" ]] && command -v taskset >/dev/null && (($(nproc) >= 2)); then
    GEN_PIN=(taskset -c 0)
    SERVER_PIN=(taskset -c 1)
    PIN_DESC="pinned with taskset: servers on CPU 1, load generators on CPU 0"
else
    PIN_DESC="not pinned (NO_PIN set, no taskset, or fewer than 2 CPUs): generator and server share all CPUs"
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/celgate-load-bench.XXXXXX")"
[[ -n "${KEEP:-}" ]] && say "keeping $WORK"
CERTS="$WORK/certs"

# wrk scripts: a POST with the fixture; done() prints one machine-readable line (latency in us).
WRK_DONE='function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d status_errors=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max, e.status, e.connect, e.read, e.write, e.timeout))
end'
cat >"$WORK/post.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open([[$FIXTURE]], "rb"))
wrk.body = f:read("*a")
f:close()
$WRK_DONE
EOF
# Fallback pacing: each of PACED_CONNECTIONS waits this long after each response.
PACED_CONNECTIONS=20
PACED_DELAY_MS=$((PACED_CONNECTIONS * 1000 / RATE))
{ cat "$WORK/post.lua"; printf 'function delay() return %d end\n' "$PACED_DELAY_MS"; } >"$WORK/paced.lua"

# --- servers ------------------------------------------------------------------------------------
wait_for_line() { # wait_for_line FILE PATTERN PID WHAT: up to 30 s, fails when PID dies
    local i
    for ((i = 0; i < 300; i++)); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        kill -0 "$3" 2>/dev/null || { cat "$1" >&2; die "$4 exited during start"; }
        sleep 0.1
    done
    cat "$1" >&2
    die "$4 did not start within 30 s"
}

rss_kib() { ps -o rss= -p "$1" | tr -d ' '; }
CLK_TCK="$(getconf CLK_TCK)"
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # user + system, all threads
# Prints "PCT US": the server's CPU over a phase as % of one core and microseconds per request.
cpu_share() { # cpu_share TICKS_BEFORE TICKS_AFTER SECONDS REQUESTS
    awk -v a="$1" -v b="$2" -v s="$3" -v n="$4" -v hz="$CLK_TCK" \
        'BEGIN { c = (b - a) / hz; printf "%.0f %.0f\n", 100 * c / s, (n > 0 ? 1e6 * c / n : 0) }'
}
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# The bound addresses are read from the "celgate serving" line (info level): keep it when the
# caller lowers CELGATE_LOG (e.g. CELGATE_LOG=warn to measure without the per-review log line).
if [[ -n "${CELGATE_LOG:-}" ]]; then export CELGATE_LOG="$CELGATE_LOG,celgate::commands::serve=info"; fi
# start_celgate NAME [SERVE ARGS...]: starts `celgate serve` pinned, waits for /readyz; sets
# STARTED_PID, STARTED_LISTEN and STARTED_ADMIN. Its log is $WORK/NAME.log.
start_celgate() {
    local name="$1" log="$WORK/$1.log" serving_line ready="" i
    shift
    "${SERVER_PIN[@]}" "$CELGATE" serve --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
        --cert-dir "$CERTS" "$@" 2>"$log" &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
    wait_for_line "$log" '"celgate serving"' "$STARTED_PID" "$name"
    serving_line="$(grep '"celgate serving"' "$log" | head -n1)"
    STARTED_LISTEN="$(sed -n 's/.*"listen":"\([^"]*\)".*/\1/p' <<<"$serving_line")"
    STARTED_ADMIN="$(sed -n 's/.*"admin":"\([^"]*\)".*/\1/p' <<<"$serving_line")"
    [[ "$STARTED_LISTEN" == 127.0.0.1:* && "$STARTED_ADMIN" == 127.0.0.1:* ]] \
        || die "cannot read bound addresses from: $serving_line"
    for ((i = 0; i < 300; i++)); do
        if curl -fsS --max-time 1 "http://$STARTED_ADMIN/readyz" >/dev/null 2>&1; then ready=1; break; fi
        kill -0 "$STARTED_PID" 2>/dev/null || die "$name exited before /readyz"
        sleep 0.1
    done
    [[ -n "$ready" ]] || die "$name /readyz did not answer 200 within 30 s"
}

# The one-rule pack of the floor phase, in $WORK/floor-pack.
write_floor_pack() {
mkdir -p "$WORK/floor-pack"
cat >"$WORK/floor-pack/pack.yaml" <<'PACK'
apiVersion: celgate.io/v1
kind: RulePack
metadata:
  name: floor
  version: 0.1.0
spec:
  rules:
    - id: floor-always-true
      title: A rule that always holds
      controls: [none]
      severity: low
      validate: "true"
      message: never shown
      remediation: none
PACK
}

# One verified request per server (curl checks the certificate against the dev CA).
check_once() { # check_once URL NAME
    local code
    code="$(curl -sS --max-time 10 --cacert "$CERTS/ca.crt" -H 'Content-Type: application/json' \
        --data-binary "@$FIXTURE" -o "$WORK/check-$2.json" -w '%{http_code}' "$1")" \
        || die "curl --cacert to $2 failed"
    [[ "$code" == 2* ]] || die "$2 answered HTTP $code to the fixture: $(head -c 500 "$WORK/check-$2.json")"
    printf '%s' "$code"
}

if [[ -z "${AUDIT_ONLY:-}" ]]; then
say "== starting celgate serve with the shipped packs (127.0.0.1, ports chosen by the kernel)"
start_celgate celgate
CELGATE_PID=$STARTED_PID LISTEN=$STARTED_LISTEN ADMIN=$STARTED_ADMIN
[[ -f "$CERTS/ca.crt" ]] || die "celgate created no $CERTS/ca.crt"
RSS_IDLE="$(rss_kib "$CELGATE_PID")"
say "celgate pid $CELGATE_PID on https://$LISTEN (admin http://$ADMIN), ready; RSS idle ${RSS_IDLE} KiB"

say "== starting echo-server with celgate's dev certificate ($CERTS)"
"${SERVER_PIN[@]}" "$ECHO" 127.0.0.1:0 "$CERTS" >"$WORK/echo.log" 2>&1 &
ECHO_PID=$!
PIDS+=("$ECHO_PID")
wait_for_line "$WORK/echo.log" '^echo-server listening on ' "$ECHO_PID" "echo-server"
ECHO_LISTEN="$(sed -n 's/^echo-server listening on //p' "$WORK/echo.log" | head -n1)"
[[ "$ECHO_LISTEN" == 127.0.0.1:* ]] || die "cannot read the echo server's address"
say "echo-server pid $ECHO_PID on https://$ECHO_LISTEN"

code="$(check_once "https://$LISTEN/validate" celgate)"
verdict="$(grep -o '"allowed":[a-z]*' "$WORK/check-celgate.json" | head -n1 || true)"
findings="$(grep -o 'denied the request: [0-9]* finding' "$WORK/check-celgate.json" | grep -o '[0-9]*' || true)"
say "fixture check (TLS verified with ca.crt): celgate HTTP $code, ${verdict:-no allowed field}${findings:+, $findings finding(s)}"
code="$(check_once "https://$ECHO_LISTEN/validate" echo)"
cmp -s "$WORK/check-echo.json" "$FIXTURE" || die "the echo server did not return the request body"
say "fixture check (TLS verified with ca.crt): echo-server HTTP $code, body echoed"
fi

# --- load phases --------------------------------------------------------------------------------
run_gen() { # run_gen OUTFILE COMMAND...: the load generator, pinned, bounded, stoppable by cleanup
    local out="$1" pid rc=0
    shift
    "${GEN_PIN[@]}" timeout --signal=INT --kill-after=5 "$((DURATION + 30))" "$@" >"$out" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait "$pid" || rc=$?
    forget "$pid"
    if ((rc != 0)); then
        say "load generator exited with status $rc:"
        sed 's/^/    /' "$out"
    fi
    return 0
}

indent() { sed 's/^/    | /' "$1"; }

# Sets FR_P50 FR_P99 FR_MAX (ms) FR_RPS FR_OK FR_NON2XX FR_ERR for a fixed-rate run.
fixed_rate() { # fixed_rate NAME URL SERVER_PID
    local out="$WORK/fixed-$1.txt" parsed t0 t1 cpu_pct cpu_us
    t0="$(cpu_ticks "$3")"
    if [[ "$LATENCY_TOOL" == hey ]]; then
        # -host localhost: hey sends its Host header (by default the URL's "127.0.0.1:PORT") as the
        # TLS server name, and rustls rejects a name with a port ("tls: illegal parameter").
        run_gen "$out" hey -z "${DURATION}s" -c "$HEY_WORKERS" \
            -q "$(awk -v r="$RATE" -v w="$HEY_WORKERS" 'BEGIN { print r / w }')" \
            -m POST -T application/json -D "$FIXTURE" -disable-keepalive=false -host localhost "$2"
        parsed="$(awk '
            /^Status code distribution:/ { sec = "status"; next }
            /^Error distribution:/ { sec = "error"; next }
            /^[A-Z]/ { sec = "" }
            /Requests\/sec:/ { rps = $2 }
            /Slowest:/ { mx = $2 * 1000 }
            $1 == "50%" && $2 == "in" { p50 = $3 * 1000 }
            $1 == "99%" && $2 == "in" { p99 = $3 * 1000 }
            sec == "status" && $1 ~ /^\[[0-9]+\]$/ {
                c = substr($1, 2, length($1) - 2) + 0
                if (c >= 200 && c < 300) ok += $2; else bad += $2
            }
            sec == "error" && $1 ~ /^\[[0-9]+\]$/ { err += substr($1, 2, length($1) - 2) }
            END {
                if (ok + bad == 0) mx = ""
                printf "%s %s %s %s %d %d %d\n", (p50 == "" ? "nan" : p50), (p99 == "" ? "nan" : p99),
                    (mx == "" ? "nan" : mx), (rps == "" ? 0 : rps), ok, bad, err
            }' "$out")"
    else
        run_gen "$out" wrk -t1 -c"$PACED_CONNECTIONS" -d"${DURATION}s" --latency -s "$WORK/paced.lua" "$2"
        parsed="$(wrk_fields "$out" | awk '{
            printf "%s %s %s %.1f %d %d %d\n", $3 / 1000, $5 / 1000, $7 / 1000,
                $1 / ($2 / 1e6), $1 - $8, $8, $9 + $10 + $11 + $12 }')"
    fi
    t1="$(cpu_ticks "$3")"
    read -r FR_P50 FR_P99 FR_MAX FR_RPS FR_OK FR_NON2XX FR_ERR <<<"$parsed"
    read -r cpu_pct cpu_us <<<"$(cpu_share "$t0" "$t1" "$DURATION" "$((FR_OK + FR_NON2XX))")"
    indent "$out"
    printf '  => %s fixed rate %s req/s: achieved %.1f req/s; p50 %.2f ms, p99 %.2f ms, max %.2f ms; 2xx %d, non-2xx %d, transport errors %d\n' \
        "$1" "$RATE" "$FR_RPS" "$FR_P50" "$FR_P99" "$FR_MAX" "$FR_OK" "$FR_NON2XX" "$FR_ERR"
    printf '     server CPU %s %% of one core, %s us per request; load average now %s\n' "$cpu_pct" "$cpu_us" "$(loadavg)"
    if awk -v a="$FR_RPS" -v r="$RATE" 'BEGIN { exit !(a < 0.98 * r) }'; then
        say "     warning: the rate was not held (achieved $FR_RPS of $RATE req/s)"
    fi
}

# Prints: requests duration_us p50 p90 p99 p999 max status_errors connect read write timeout
wrk_fields() {
    local line
    line="$(grep '^BENCH ' "$1" | tail -n1 || true)"
    [[ -n "$line" ]] || { echo "0 1 0 0 0 0 0 0 0 0 0 0"; return; }
    sed 's/BENCH //; s/[a-z0-9_]*=//g' <<<"$line"
}

# Sets MX_RPS MX_P50 MX_P90 MX_P99 MX_P999 MX_MAX (ms) MX_STATUS MX_SOCKET for a max-rate run.
max_rate() { # max_rate NAME URL SERVER_PID
    local out="$WORK/max-$1.txt" t0 t1 requests
    t0="$(cpu_ticks "$3")"
    run_gen "$out" wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"${DURATION}s" --latency -s "$WORK/post.lua" "$2"
    read -r MX_RPS MX_P50 MX_P90 MX_P99 MX_P999 MX_MAX MX_STATUS MX_SOCKET < <(wrk_fields "$out" | awk '{
        printf "%.1f %.3f %.3f %.3f %.3f %.3f %d %d\n", $1 / ($2 / 1e6), $3 / 1000, $4 / 1000, $5 / 1000,
            $6 / 1000, $7 / 1000, $8, $9 + $10 + $11 + $12 }')
    t1="$(cpu_ticks "$3")"
    requests="$(wrk_fields "$out" | awk '{ print $1 }')"
    read -r MX_CPU MX_CPU_US <<<"$(cpu_share "$t0" "$t1" "$DURATION" "$requests")"
    grep -v '^BENCH ' "$out" >"$out.shown" || true
    indent "$out.shown"
    printf '  => %s max rate: %.1f req/s; p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms; HTTP >= 400: %d, socket errors %d\n' \
        "$1" "$MX_RPS" "$MX_P50" "$MX_P90" "$MX_P99" "$MX_P999" "$MX_MAX" "$MX_STATUS" "$MX_SOCKET"
    printf '     server CPU %s %% of one core, %s us per request; load average now %s\n' "$MX_CPU" "$MX_CPU_US" "$(loadavg)"
}

# --- audit phases -------------------------------------------------------------------------------
# audit_phases: celgate with the audit trail off, on, and on with `required: true`; prints the
# cost of `required` (see the header).
audit_phases() {
    local mode config name packs=()
    if [[ -n "${AUDIT_FLOOR:-}" ]]; then
        write_floor_pack
        packs=(--packs "$WORK/floor-pack")
    fi
    say ""
    say "== audit phases: ${DURATION} s per phase, POST ${BODY_BYTES}-byte AdmissionReview, packs: $([[ -n "${AUDIT_FLOOR:-}" ]] && echo one-rule || echo shipped); $PIN_DESC"
    say "   load average before: $(loadavg) (other work on this machine skews every figure)"
    for mode in off on required; do
        name="audit-$mode"
        config="$WORK/$name.yaml"
        case "$mode" in
            off) : >"$config" ;;
            on) printf 'audit:\n  dir: %s\n  replicaId: bench\n' "$WORK/$name" >"$config" ;;
            required) printf 'audit:\n  dir: %s\n  replicaId: bench\n  required: true\n' "$WORK/$name" >"$config" ;;
        esac
        say ""
        say "== starting celgate serve, audit $mode"
        start_celgate "$name" --config "$config" "${packs[@]}"
        check_once "https://$STARTED_LISTEN/validate" "$name" >/dev/null
        say "== [$name] phase 1: fixed rate"
        fixed_rate "$name" "https://$STARTED_LISTEN/validate" "$STARTED_PID"
        printf -v "A_P50_$mode" '%s' "$FR_P50"
        printf -v "A_P99_$mode" '%s' "$FR_P99"
        printf -v "A_FRPS_$mode" '%s' "$FR_RPS"
        printf -v "A_FERR_$mode" '%s' "$((FR_NON2XX + FR_ERR))"
        sleep 1
        say "== [$name] phase 2: maximum rate"
        max_rate "$name" "https://$STARTED_LISTEN/validate" "$STARTED_PID"
        printf -v "A_RPS_$mode" '%s' "$MX_RPS"
        printf -v "A_MP99_$mode" '%s' "$MX_P99"
        printf -v "A_CPU_US_$mode" '%s' "$MX_CPU_US"
        printf -v "A_MERR_$mode" '%s' "$((MX_STATUS + MX_SOCKET))"
        printf -v "A_RSS_$mode" '%s' "$(rss_kib "$STARTED_PID")"
        kill -TERM "$STARTED_PID" 2>/dev/null || true
        wait "$STARTED_PID" 2>/dev/null || true
        forget "$STARTED_PID"
        printf -v "A_RECORDS_$mode" '%s' "$(cat "$WORK/$name"/*.jsonl 2>/dev/null | wc -l | tr -d ' ')"
        sleep 1
    done
    say ""
    say "== audit summary (same run, same machine; celgate $CELGATE)"
    local p50 p99 frps ferr rps mp99 cpu merr rss recs
    for mode in off on required; do
        p50="A_P50_$mode" p99="A_P99_$mode" frps="A_FRPS_$mode" ferr="A_FERR_$mode" rps="A_RPS_$mode"
        mp99="A_MP99_$mode" cpu="A_CPU_US_$mode" merr="A_MERR_$mode" rss="A_RSS_$mode" recs="A_RECORDS_$mode"
        printf 'audit %-8s fixed %s req/s (achieved %.0f): p50 %.2f ms, p99 %.2f ms, failed %d | max rate %.1f req/s, p99 %.2f ms, %s us CPU/request, failed %d | RSS %s KiB | records %s\n' \
            "$mode" "$RATE" "${!frps}" "${!p50}" "${!p99}" "${!ferr}" "${!rps}" "${!mp99}" "${!cpu}" "${!merr}" "${!rss}" "${!recs}"
    done
    printf 'cost of required: max rate %s %% vs on, %s %% vs off; fixed-rate p99 %+.2f ms vs on\n' \
        "$(awk -v a="$A_RPS_required" -v b="$A_RPS_on" 'BEGIN { if (b > 0) printf "%+.1f", 100 * (a - b) / b; else print "nan" }')" \
        "$(awk -v a="$A_RPS_required" -v b="$A_RPS_off" 'BEGIN { if (b > 0) printf "%+.1f", 100 * (a - b) / b; else print "nan" }')" \
        "$(awk -v a="$A_P99_required" -v b="$A_P99_on" 'BEGIN { print a - b }')"
}

BODY_BYTES="$(wc -c <"$FIXTURE" | tr -d ' ')"
if [[ -n "${AUDIT_ONLY:-}" ]]; then
    audit_phases
    exit 0
fi

LOAD_BEFORE="$(loadavg)"
say ""
say "== load: ${DURATION} s per phase, POST ${BODY_BYTES}-byte AdmissionReview, Content-Type: application/json"
say "   phase 1: $LATENCY_DESC"
say "   phase 2: $WRK_DESC, -t$WRK_THREADS -c$WRK_CONNECTIONS --latency, Lua POST script"
say "   $PIN_DESC"
say "   load average before: $LOAD_BEFORE (other work on this machine skews every figure)"
say "   TLS: load tools do not verify certificates (hey skips verification, wrk never verifies): acceptable on loopback"

say ""
say "== [celgate] phase 1: fixed rate, POST https://$LISTEN/validate"
fixed_rate celgate "https://$LISTEN/validate" "$CELGATE_PID"
C_P99=$FR_P99 C_MAX=$FR_MAX C_FRPS=$FR_RPS C_NON2XX=$FR_NON2XX C_ERR=$FR_ERR
sleep 1
say "== [celgate] phase 2: maximum rate, POST https://$LISTEN/validate"
max_rate celgate "https://$LISTEN/validate" "$CELGATE_PID"
C_RPS=$MX_RPS C_MX_P99=$MX_P99 C_CPU=$MX_CPU C_CPU_US=$MX_CPU_US C_MX_ERR=$((MX_STATUS + MX_SOCKET))
kill -0 "$CELGATE_PID" 2>/dev/null || die "celgate died during the load"
RSS_AFTER="$(rss_kib "$CELGATE_PID")"
sleep 1

say ""
say "== [echo] phase 1: fixed rate, POST https://$ECHO_LISTEN/validate"
fixed_rate echo "https://$ECHO_LISTEN/validate" "$ECHO_PID"
E_P99=$FR_P99 E_NON2XX=$FR_NON2XX E_ERR=$FR_ERR
sleep 1
say "== [echo] phase 2: maximum rate, POST https://$ECHO_LISTEN/validate"
max_rate echo "https://$ECHO_LISTEN/validate" "$ECHO_PID"
E_RPS=$MX_RPS E_CPU=$MX_CPU E_CPU_US=$MX_CPU_US E_MX_ERR=$((MX_STATUS + MX_SOCKET))
kill -0 "$ECHO_PID" 2>/dev/null || die "echo-server died during the load"
ECHO_RSS="$(rss_kib "$ECHO_PID")"

# The same server with one constant rule: what celgate costs without its packs (TLS, HTTP, the
# AdmissionReview parse, the answer, metrics and the log line), so the summary can tell the
# transport's share from the engine's.
write_floor_pack
say ""
say "== starting celgate serve with a one-rule pack (the server without its packs)"
start_celgate floor --packs "$WORK/floor-pack"
FLOOR_PID=$STARTED_PID FLOOR_LISTEN=$STARTED_LISTEN
say "== [floor] phase 2: maximum rate, POST https://$FLOOR_LISTEN/validate"
max_rate floor "https://$FLOOR_LISTEN/validate" "$FLOOR_PID"
F_RPS=$MX_RPS F_CPU_US=$MX_CPU_US F_MX_ERR=$((MX_STATUS + MX_SOCKET))
kill -TERM "$FLOOR_PID" 2>/dev/null || true

# The audit trail on, as real deployments run: the same load against celgate with `audit: {dir}`
# (and off and required, for comparison), reported below next to the echo ceiling.
audit_phases

# --- summary ------------------------------------------------------------------------------------
reviews="$(grep -c '"admission review"' "$WORK/celgate.log" || true)"
RSS_NOW="$(rss_kib "$CELGATE_PID")"
verdict_p99="$(awk -v p="$C_P99" -v g="$GOAL_P99_MS" 'BEGIN { print (p != "nan" && p <= g) ? "PASS" : "FAIL" }')"
RATIO="$(awk -v c="$C_RPS" -v e="$E_RPS" 'BEGIN { if (e > 0) printf "%.1f", 100 * c / e; else print "nan" }')"
verdict_ratio="$(awk -v r="$RATIO" -v g="$GOAL_RATIO_PCT" 'BEGIN { print (r != "nan" && r >= g) ? "PASS" : "FAIL" }')"

say ""
say "== summary"
say "machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown CPU); $PIN_DESC"
say "tools: phase 1 $LATENCY_DESC; phase 2 $WRK_DESC"
say "TLS: certificates not verified by the load tools (loopback); curl --cacert verified both servers once"
printf 'celgate RSS: %s KiB idle, %s KiB right after its load phases, %s KiB at the end (ps -o rss=); echo-server %s KiB\n' \
    "$RSS_IDLE" "$RSS_AFTER" "$RSS_NOW" "$ECHO_RSS"
printf 'server CPU at max rate: celgate %s %% of one core (%s us/request), echo %s %% (%s us/request); load average %s before, %s after\n' \
    "$C_CPU" "$C_CPU_US" "$E_CPU" "$E_CPU_US" "$LOAD_BEFORE" "$(loadavg)"
printf 'celgate logged %s admission reviews (CELGATE_LOG=%s; one JSON line each at info, to a file)\n' \
    "${reviews:-0}" "${CELGATE_LOG:-info (default)}"
printf 'p99 at %s req/s: celgate %.2f ms (achieved %.1f req/s, max %.2f ms, non-2xx %d, transport errors %d); echo %.2f ms; goal <= %s ms: %s\n' \
    "$RATE" "$C_P99" "$C_FRPS" "$C_MAX" "$C_NON2XX" "$C_ERR" "$E_P99" "$GOAL_P99_MS" "$verdict_p99"
printf 'max rate (wrk -t%s -c%s): celgate %.1f req/s (p99 %.2f ms, errors %d), echo ceiling %.1f req/s (errors %d): %s %% of the ceiling; goal >= %s %%: %s\n' \
    "$WRK_THREADS" "$WRK_CONNECTIONS" "$C_RPS" "$C_MX_P99" "$C_MX_ERR" "$E_RPS" "$E_MX_ERR" "$RATIO" "$GOAL_RATIO_PCT" "$verdict_ratio"
FLOOR_RATIO="$(awk -v c="$F_RPS" -v e="$E_RPS" 'BEGIN { if (e > 0) printf "%.1f", 100 * c / e; else print "nan" }')"
printf 'celgate with a one-rule pack: %.1f req/s (%s us/request, errors %d) = %s %% of the echo ceiling: the server alone, before any pack\n' \
    "$F_RPS" "$F_CPU_US" "$F_MX_ERR" "$FLOOR_RATIO"
pct_of_echo() { awk -v c="$1" -v e="$E_RPS" 'BEGIN { if (e > 0) printf "%.1f", 100 * c / e; else print "nan" }'; }
printf 'celgate with the audit trail on (audit: {dir}, %s): %.1f req/s (%s us/request, errors %d) = %s %% of the echo ceiling; audit off %.1f req/s = %s %%; required %.1f req/s = %s %%\n' \
    "$([[ -n "${AUDIT_FLOOR:-}" ]] && echo one-rule pack || echo shipped packs)" "$A_RPS_on" "$A_CPU_US_on" "$A_MERR_on" "$(pct_of_echo "$A_RPS_on")" \
    "$A_RPS_off" "$(pct_of_echo "$A_RPS_off")" "$A_RPS_required" "$(pct_of_echo "$A_RPS_required")"
if [[ "$LATENCY_TOOL" == hey ]]; then
    say "note: hey prints latencies in seconds to 4 decimals (0.1 ms resolution); its $HEY_WORKERS workers fire in lockstep (bursts of $HEY_WORKERS) and are closed-loop (a response slower than a tick skips that worker's next tick)"
fi
if ((C_NON2XX + C_ERR + C_MX_ERR + E_NON2XX + E_ERR + E_MX_ERR + F_MX_ERR + A_MERR_on + A_FERR_on > 0)); then
    say "warning: some requests failed (see the counts above)"
fi
