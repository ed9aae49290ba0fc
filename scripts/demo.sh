#!/usr/bin/env bash
# `make demo`: a whole scheduled run against the built-in sandbox, on this machine only.
#
#   1. generate a demo world (users, owners and the links a store would hold) into demo/world/
#   2. serve it with `usermap sandbox` on a free port of 127.0.0.1 (in the background, stopped at
#      the end, and by --max-seconds if this script is killed)
#   3. a demo store (`usermap init`) with the world's links (demo/demo.db) and a demo config
#      (demo/usermap.toml)
#   4. `usermap run --config demo/usermap.toml --apply`: the notebooks under papermill into
#      demo/runs/<run_id>/, then the report's path and the numbers
#
# Nothing leaves 127.0.0.1; the tokens are demo values set here (real ones in your environment are
# never sent to the sandbox). Everything lands in ./demo/ (git-ignored; `make clean` removes it).
set -euo pipefail
cd "$(dirname "$0")/.."

DEMO_DIR=demo
USERS="${DEMO_USERS:-500}"
SEED="${DEMO_SEED:-7}"
PY="${PYTHON:-python}"

if ! command -v usermap >/dev/null 2>&1; then
    echo "demo: 'usermap' is not on PATH; run 'make demo' (it installs .venv first)" >&2
    exit 2
fi

export HUBSPOT_ACCESS_TOKEN="demo-hubspot-token" ALOWARE_API_TOKEN="demo-aloware-token"
unset SMTP_USER SMTP_PASSWORD

rm -rf "$DEMO_DIR"
mkdir -p "$DEMO_DIR"

echo "== 1. a demo world of $USERS users (seed $SEED)"
"$PY" -c 'import sys
from usermap.sandbox.scenarios import generate, write_world
write_world(generate(int(sys.argv[1]), seed=int(sys.argv[2])), sys.argv[3])' \
    "$USERS" "$SEED" "$DEMO_DIR/world"

echo "== 2. the sandbox (both APIs on 127.0.0.1)"
usermap sandbox --snapshot "$DEMO_DIR/world" --port 0 --seed "$SEED" --max-seconds 900 \
    --config-out "$DEMO_DIR/usermap.toml" >"$DEMO_DIR/sandbox.log" 2>&1 &
SANDBOX_PID=$!
stop_sandbox() {
    if kill -0 "$SANDBOX_PID" 2>/dev/null; then
        kill "$SANDBOX_PID" 2>/dev/null || true
        wait "$SANDBOX_PID" 2>/dev/null || true
    fi
}
trap stop_sandbox EXIT
trap 'exit 130' INT TERM

for _ in $(seq 1 300); do            # up to 30 s for the sandbox to listen and write its config
    [ -s "$DEMO_DIR/usermap.toml" ] && break
    if ! kill -0 "$SANDBOX_PID" 2>/dev/null; then
        echo "demo: the sandbox did not start:" >&2
        cat "$DEMO_DIR/sandbox.log" >&2
        exit 1
    fi
    sleep 0.1
done
[ -s "$DEMO_DIR/usermap.toml" ] || { echo "demo: the sandbox wrote no config" >&2; exit 1; }
head -n 1 "$DEMO_DIR/sandbox.log"

cat >>"$DEMO_DIR/usermap.toml" <<'TOML'

[store]
path = "demo.db"

[runs]
dir = "runs"
keep = 10
TOML

echo "== 3. a demo store (usermap init) with the world's links"
usermap init --store "$DEMO_DIR/demo.db"
usermap mappings import "$DEMO_DIR/world/mappings.csv" --store "$DEMO_DIR/demo.db"

echo "== 4. usermap run --apply"
set +e
usermap run --config "$DEMO_DIR/usermap.toml" --apply
status=$?
set -e

run_dir="$(ls -d "$DEMO_DIR"/runs/2*/ 2>/dev/null | tail -n 1)"
echo
if [ "$status" -eq 0 ] && [ -n "$run_dir" ]; then
    echo "report:  ${run_dir}report.html"
    echo "numbers after the run (${run_dir}sync.json; summary.json holds the audit before it):"
    "$PY" -c 'import json, sys
from usermap.labels import issue_label
sync = json.load(open(sys.argv[1]))
s, b = sync.get("after") or sync["before"], sync["before"]
print("  {mapped} mapped ({synced} synced, {errors} with issues); {unmapped_aloware} Aloware users "
      "and {unmapped_hubspot} HubSpot owners unmapped".format(**s))
print("  before the run: {mapped} mapped ({synced} synced, {errors} with issues)".format(**b))
for code, n in s["errors_by_code"].items():
    print(f"  {n:>6}  {issue_label(code)} ({code})")' "${run_dir}sync.json"
    echo "open the report in a browser; the executed notebooks are beside it (audit.ipynb, sync.ipynb)"
else
    echo "demo: usermap run exited $status; see ${run_dir:-$DEMO_DIR/runs/}run.log" >&2
fi
exit "$status"
