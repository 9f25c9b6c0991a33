#!/usr/bin/env bash
# Times `celgate check` as a process on generated manifests, next to a baseline measured in the
# same run: the same command with a pack holding one trivial rule (`validate: "true"` on every
# kind), which pays process start, file I/O, YAML parsing, per-document bookkeeping and report
# rendering but (almost) no rule evaluation. Also prints `cat` of the same files as an I/O floor.
#
#   scripts/bench-check.sh                  # 1000 manifests, hyperfine if installed
#   COUNT=200 RUNS=5 scripts/bench-check.sh
#   KEEP=1 scripts/bench-check.sh           # keep the generated folder (path is printed)
#   NO_HYPERFINE=1 scripts/bench-check.sh   # force the plain bash timing loop
#
# Needs: cargo, python3 (the generator). Optional: hyperfine ($RUNS runs; without it a bash loop
# over $FALLBACK_RUNS runs prints min/median), /usr/bin/time (peak RSS). Installs nothing.
# `celgate check` exits 1 when a document is denied: expected here, and not an error.
set -euo pipefail

COUNT="${COUNT:-1000}"
RUNS="${RUNS:-10}"
FALLBACK_RUNS="${FALLBACK_RUNS:-5}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

command -v python3 >/dev/null || { echo "bench-check: python3 is needed for the manifest generator" >&2; exit 2; }

echo "== building release" >&2
cargo build --release --quiet
BIN="$ROOT/target/release/celgate"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/celgate-bench-check.XXXXXX")"
if [[ -z "${KEEP:-}" ]]; then
    trap 'rm -rf "$WORK"' EXIT
else
    echo "keeping $WORK" >&2
fi
DIR="$WORK/manifests"
mkdir -p "$DIR" "$WORK/trivial-pack"

cat >"$WORK/trivial-pack/pack.yaml" <<'EOF'
apiVersion: celgate.io/v1
kind: RulePack
metadata:
  name: trivial
  version: 0.0.1
spec:
  rules:
    - id: trivial-true
      title: Always holds
      controls: [none]
      severity: low
      match:
        kinds: ["*"]
        operations: ["*"]
      validate: "true"
      message: never shown
      remediation: none
EOF

echo "== generating $COUNT manifests in $DIR" >&2
python3 - "$DIR" "$COUNT" <<'PY'
"""Deterministic generator of varied Kubernetes manifests (YAML, a few JSON, a few multi-document)."""
import json
import random
import sys

out, count = sys.argv[1], int(sys.argv[2])
rnd = random.Random(20261125)

TEAMS = ["records", "billing", "search", "identity", "payments", "platform", "analytics"]
NAMESPACES = ["clinical", "billing", "search", "identity", "payments", "analytics", "default", "kube-system"]
CLASSES = ["public", "internal", "confidential", "pii", "phi"]
ENVS = ["production", "staging", "dev"]


def scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return str(v)
    return json.dumps(v)  # always-quoted strings are valid YAML


def emit(v, indent=0):
    """Block-style YAML."""
    pad = "  " * indent
    lines = []
    if isinstance(v, dict):
        for k, x in v.items():
            key = k if k.replace("-", "").replace("_", "").isalnum() else json.dumps(k)
            if isinstance(x, (dict, list)) and x:
                lines.append(f"{pad}{key}:")
                lines.extend(emit(x, indent + 1))
            else:
                lines.append(f"{pad}{key}: {scalar(x) if not isinstance(x, (dict, list)) else ('{}' if isinstance(x, dict) else '[]')}")
    else:
        for x in v:
            if isinstance(x, (dict, list)) and x:
                sub = emit(x, indent + 1)
                lines.append(f"{pad}- {sub[0].lstrip()}")
                lines.extend(sub[1:])
            else:
                lines.append(f"{pad}- {scalar(x)}")
    return lines


def meta(kind, name, ns, good, cls):
    m = {
        "name": name,
        "namespace": ns,
        "labels": {
            "app.kubernetes.io/name": name,
            "app.kubernetes.io/part-of": rnd.choice(TEAMS),
            "team": rnd.choice(TEAMS),
            "data-classification": cls,
            "environment": rnd.choice(ENVS),
        },
        "annotations": {"owner": f"{rnd.choice(TEAMS)}@example.org"},
    }
    if good:
        m["annotations"]["compliance.celgate.io/change-ref"] = f"https://git.example.com/change/{rnd.randint(1, 99999)}"
        if cls == "phi":
            m["annotations"]["encryption"] = "aes-256-gcm"
    if rnd.random() < 0.2:
        del m["labels"]["data-classification"]
    return m


def container(name, good):
    digest = "".join(rnd.choice("0123456789abcdef") for _ in range(64))
    if good:
        image = f"registry.example.com/{rnd.choice(TEAMS)}/{name}:{rnd.randint(1, 9)}.{rnd.randint(0, 30)}.{rnd.randint(0, 9)}@sha256:{digest}"
    else:
        image = rnd.choice([
            f"docker.io/library/{name}:latest",
            f"registry.example.org/{name}:1.{rnd.randint(0, 9)}",
            f"registry.example.com/{name}:2.0",
            f"{name}",
        ])
    c = {
        "name": name,
        "image": image,
        "ports": [{"name": "http", "containerPort": rnd.choice([8080, 8443, 9090, 3000])}],
        "env": [
            {"name": "LOG_LEVEL", "value": rnd.choice(["info", "debug", "warn"])},
            {"name": "REGION", "value": rnd.choice(["eu-west-1", "us-east-1"])},
        ],
        "resources": {
            "requests": {"cpu": f"{rnd.choice([50, 100, 250])}m", "memory": f"{rnd.choice([64, 128, 256])}Mi"},
            "limits": {"cpu": f"{rnd.choice([500, 1000])}m", "memory": f"{rnd.choice([256, 512, 1024])}Mi"},
        },
        "securityContext": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "privileged": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 5},
    }
    if not good:
        flaw = rnd.choice(["priv", "root", "nolimits", "secretenv", "caps", "nosc"])
        if flaw == "priv":
            c["securityContext"]["privileged"] = True
        elif flaw == "root":
            c["securityContext"]["runAsNonRoot"] = False
        elif flaw == "nolimits":
            del c["resources"]["limits"]
        elif flaw == "secretenv":
            c["env"].append({"name": "DB_PASSWORD", "value": "hunter2"})
        elif flaw == "caps":
            c["securityContext"]["capabilities"] = {"add": ["NET_ADMIN", "SYS_ADMIN"]}
        else:
            del c["securityContext"]
    return c


def pod_spec(name, good):
    n = rnd.choice([1, 1, 2, 3])
    spec = {
        "serviceAccountName": name,
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container(name if i == 0 else f"{name}-side{i}", good) for i in range(n)],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }
    if not good and rnd.random() < 0.3:
        spec["hostNetwork"] = True
    return spec


def deployment(i, good):
    name = f"app-{i}"
    ns = rnd.choice(NAMESPACES)
    labels = {"app.kubernetes.io/name": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta("Deployment", name, ns, good, rnd.choice(CLASSES)),
        "spec": {
            "replicas": rnd.choice([1, 2, 3, 5]),
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec(name, good)},
        },
    }


def cronjob(i, good):
    name = f"job-{i}"
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": meta("CronJob", name, rnd.choice(NAMESPACES), good, rnd.choice(CLASSES)),
        "spec": {
            "schedule": f"{rnd.randint(0, 59)} {rnd.randint(0, 23)} * * *",
            "concurrencyPolicy": "Forbid",
            "jobTemplate": {"spec": {"backoffLimit": 2, "template": {"spec": {**pod_spec(name, good), "restartPolicy": "OnFailure"}}}},
        },
    }


def service(i, good):
    name = f"svc-{i}"
    s = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta("Service", name, rnd.choice(NAMESPACES), good, rnd.choice(CLASSES)),
        "spec": {
            "type": "ClusterIP",
            "selector": {"app.kubernetes.io/name": f"app-{i}"},
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }
    if rnd.random() < 0.4:
        s["spec"]["type"] = "LoadBalancer"
        if good:
            s["metadata"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-internal"] = "true"
    if not good and rnd.random() < 0.3:
        s["spec"]["type"] = "NodePort"
    return s


def ingress(i, good):
    name = f"ing-{i}"
    host = f"{name}.example.com"
    ing = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": meta("Ingress", name, rnd.choice(NAMESPACES), good, rnd.choice(CLASSES)),
        "spec": {
            "ingressClassName": "nginx",
            "rules": [{"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": f"svc-{i}", "port": {"number": 80}}}}]}}],
        },
    }
    if good:
        ing["spec"]["tls"] = [{"hosts": [host], "secretName": f"{name}-tls"}]
        ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/ssl-redirect"] = "true"
    return ing


def pvc(i, good):
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": meta("PersistentVolumeClaim", f"data-{i}", rnd.choice(NAMESPACES), good, rnd.choice(CLASSES)),
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "encrypted-gp3" if good else rnd.choice(["standard", "gp2", "local-path"]),
            "resources": {"requests": {"storage": f"{rnd.choice([1, 5, 20, 100])}Gi"}},
        },
    }


def configmap(i, good):
    data = {f"key{k}": f"value-{rnd.randint(0, 10**6)}" for k in range(rnd.randint(2, 12))}
    data["app.properties"] = "\n".join(f"prop.{k}={rnd.randint(0, 999)}" for k in range(rnd.randint(3, 20)))
    if not good:
        data[rnd.choice(["db_password", "API_KEY", "token"])] = "s3cr3t"
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta("ConfigMap", f"cfg-{i}", rnd.choice(NAMESPACES), good, rnd.choice(CLASSES)),
        "data": data,
    }


KINDS = [(deployment, 30), (service, 20), (configmap, 15), (ingress, 12), (pvc, 12), (cronjob, 11)]
makers = [m for m, w in KINDS for _ in range(w)]
docs_total = 0
for i in range(count):
    n_docs = rnd.choice([2, 3, 4]) if rnd.random() < 0.05 else 1
    docs = []
    for d in range(n_docs):
        make = rnd.choice(makers)
        docs.append(make(i * 10 + d, rnd.random() < 0.45))
    docs_total += len(docs)
    if n_docs == 1 and rnd.random() < 0.1:
        with open(f"{out}/m{i:04d}.json", "w") as f:
            json.dump(docs[0], f, indent=2)
    else:
        with open(f"{out}/m{i:04d}.yaml", "w") as f:
            f.write("\n---\n".join("\n".join(emit(d)) for d in docs) + "\n")
print(f"generated {count} files, {docs_total} documents", file=sys.stderr)
PY
bytes=$(cat "$DIR"/* | wc -c)
echo "   $(ls "$DIR" | wc -l) files, $bytes bytes" >&2

# Exit status 1 (something denied) is expected; 2 or more is a real failure.
check_once() {
    local rc=0
    "$BIN" check "$DIR" --format json "$@" >/dev/null 2>"$WORK/stderr" || rc=$?
    if ((rc > 1)); then
        echo "bench-check: celgate check exited $rc:" >&2
        cat "$WORK/stderr" >&2
        exit 1
    fi
}

echo "== sanity" >&2
rc=0
"$BIN" check "$DIR" --format json >"$WORK/report.json" 2>"$WORK/stderr" || rc=$?
((rc <= 1)) || { echo "celgate check exited $rc" >&2; cat "$WORK/stderr" >&2; exit 1; }
python3 - "$WORK/report.json" <<'PY' >&2 || true
import collections, json, sys
r = json.load(open(sys.argv[1]))
docs = r if isinstance(r, list) else (r.get("results") or r.get("documents") or [])
docs = [d for d in docs if isinstance(d, dict)]
c = collections.Counter(str(d.get("decision")) for d in docs)
kinds = collections.Counter(str(d.get("kind")) for d in docs)
v = sum(len(d.get("violations") or []) for d in docs)
print(f"   shipped packs: {len(docs)} documents judged; decisions {dict(c)}; {v} findings")
print(f"   kinds {dict(kinds)}")
PY
check_once --packs "$WORK/trivial-pack"

ENGINE_CMD="$BIN check $DIR --format json > /dev/null"
BASE_CMD="$BIN check $DIR --format json --packs $WORK/trivial-pack > /dev/null"
CAT_CMD="cat $DIR/* > /dev/null"

echo
echo "== celgate check, $COUNT files (engine = shipped packs; baseline = one trivial rule)"
if [[ -z "${NO_HYPERFINE:-}" ]] && command -v hyperfine >/dev/null; then
    hyperfine --warmup 2 --runs "$RUNS" --ignore-failure --style basic \
        --export-json "$WORK/hyperfine.json" \
        -n "engine: shipped packs" "$ENGINE_CMD" \
        -n "baseline: trivial pack" "$BASE_CMD" \
        -n "floor: cat files" "$CAT_CMD"
    python3 - "$WORK/hyperfine.json" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
med = {r["command"]: r["median"] for r in res}
print()
for r in res:
    print(f"{r['command']:<26} median {r['median'] * 1000:8.1f} ms   min {r['min'] * 1000:8.1f} ms   max {r['max'] * 1000:8.1f} ms")
e, b = med["engine: shipped packs"], med["baseline: trivial pack"]
print(f"engine / baseline = {e / b:.2f}; rule evaluation ~ {(e - b) * 1000:.1f} ms over the run")
PY
else
    echo "(hyperfine not used: $FALLBACK_RUNS timed runs each after one warm-up, wall clock via date +%s%N)"
    time_runs() {
        local label="$1"
        shift
        local times=() t0 t1
        "$@" # warm-up
        for _ in $(seq "$FALLBACK_RUNS"); do
            t0=$(date +%s%N)
            "$@"
            t1=$(date +%s%N)
            times+=($(((t1 - t0) / 1000)))
        done
        local sorted
        sorted=$(printf '%s\n' "${times[@]}" | sort -n)
        local min median
        min=$(head -n1 <<<"$sorted")
        median=$(sed -n "$(((FALLBACK_RUNS + 1) / 2))p" <<<"$sorted")
        awk -v l="$label" -v med="$median" -v min="$min" \
            'BEGIN { printf "%-26s median %8.1f ms   min %8.1f ms\n", l, med / 1000, min / 1000 }'
    }
    time_runs "engine: shipped packs" check_once
    time_runs "baseline: trivial pack" check_once --packs "$WORK/trivial-pack"
    time_runs "floor: cat files" bash -c "cat '$DIR'/* > /dev/null"
fi

echo
echo "== peak RSS"
if [[ -x /usr/bin/time ]]; then
    for mode in engine baseline; do
        extra=()
        [[ $mode == baseline ]] && extra=(--packs "$WORK/trivial-pack")
        /usr/bin/time -v "$BIN" check "$DIR" --format json "${extra[@]}" >/dev/null 2>"$WORK/time.txt" || true
        rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt")
        echo "$mode: ${rss:-?} KB"
    done
else
    echo "(/usr/bin/time not available)"
fi
