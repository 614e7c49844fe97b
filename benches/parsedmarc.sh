#!/usr/bin/env bash
# mtasts report and parsedmarc side by side on the same corpus (benches/report.rs writes it):
# wall time, user CPU and peak RSS of each, and whether the per-domain totals agree.
#   bash benches/parsedmarc.sh [N]   (default 20000; parsedmarc from .venv-parsedmarc)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-20000}"
tool="${MTASTS_PARSEDMARC:-$PWD/.venv-parsedmarc/bin/parsedmarc}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
MTASTS_BENCH_REPORT_KEEP="$work/corpus" MTASTS_BENCH_REPORT_SIZES="$n" MTASTS_BENCH_RUNS=1 \
    cargo bench --bench report | grep '^|'
cargo build --release -q
# parsedmarc checks no DKIM signature and the corpus mails are unsigned: --no-dkim, like for like.
/usr/bin/time -f "mtasts report: %e s wall, %U s user, %M KB peak RSS" \
    target/release/mtasts report --format json --no-dkim "$work/corpus" > "$work/ours.json"
/usr/bin/time -f "mtasts report --store (a new SQLite store): %e s wall, %U s user, %M KB peak RSS" \
    target/release/mtasts report --format json --no-dkim --store="$work/store.sqlite" "$work/corpus" > /dev/null
/usr/bin/time -o "$work/pm.time" -f "parsedmarc:    %e s wall, %U s user, %M KB peak RSS" \
    "$tool" --offline -o "$work/out" "$work/corpus" > /dev/null 2>&1
cat "$work/pm.time"
python3 - "$work/ours.json" "$work/out/smtp_tls.json" <<'PY'
import json, sys
ours = {d["domain"]: (d["successful"], d["failed"]) for d in json.load(open(sys.argv[1]))["domains"]}
theirs = {}
for r in json.load(open(sys.argv[2])):
    for p in r["policies"]:
        s, f = theirs.get(p["policy_domain"], (0, 0))
        theirs[p["policy_domain"]] = (s + p["successful_session_count"], f + p["failed_session_count"])
print(f"{len(ours)} domains; per-domain totals agree: {ours == theirs}")
PY
