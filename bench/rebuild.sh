#!/usr/bin/env bash
# Issue 26, point 13: `newsroom build` of 10,000 generated posts (bench/harness/gen_posts.rs, both
# shapes) against the render limit (bench/harness/limit.rs: read + front matter + pulldown-cmark on
# both cores), cold (a fresh output folder; the floor adds `cp` of the posts' other files) and
# re-built (the same output folder again, nothing changed). With OLD=path/to/newsroom the same
# runs of another binary alternate with this tree's.
#
#   RUNS=5 OLD=/work/speed-base/newsroom bash bench/rebuild.sh 10000
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
# shellcheck source=bench/lib.sh
source bench/lib.sh
N=${1:-10000}
RUNS=${RUNS:-5}
cargo build --release --quiet --examples --bins
LIMIT="$ROOT/target/release/examples/limit"
GEN="$ROOT/target/release/examples/gen_posts"
need_time
WORK=$(mktemp -d "${TMPDIR:-/tmp}/newsroom-rebuild.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
bins=("new:$ROOT/target/release/newsroom")
if [ -n "${OLD:-}" ]; then bins=("old:$OLD" "${bins[@]}"); fi
echo "uptime at start: $(uptime)"
echo
echo "| shape | binary | limit s | cp s | cold build s | cold ratio to limit + cp | re-build s | re-build ratio to limit |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for shape in default legacy; do
    site="$WORK/site-$shape"
    "$GEN" "$site" "$N" --shape "$shape" 2>/dev/null
    for pair in "${bins[@]}"; do : >"$WORK/${pair%%:*}-cold.txt"; : >"$WORK/${pair%%:*}-re.txt"; done
    : >"$WORK/limit.txt"
    : >"$WORK/cp.txt"
    for run in $(seq "$RUNS"); do
        warm "$site/posts"
        timed "$WORK/limit.txt" '%e' "$LIMIT" "$site/posts"
        mkdir -p "$WORK/cp-$shape-$run"
        timed "$WORK/cp.txt" '%e' bash -c 'cd "$0" && find . -type f ! -name "*.md" ! -name "*.mdx" -print0 | xargs -0 -r cp --parents -t "$1"' "$site/posts" "$WORK/cp-$shape-$run"
        for pair in "${bins[@]}"; do
            name=${pair%%:*} bin=${pair#*:}
            out="$WORK/out-$shape-$name-$run"
            warm "$site/posts"
            timed "$WORK/$name-cold.txt" '%e' "$bin" -C "$site" build --out "$out"
            warm "$site/posts"
            timed "$WORK/$name-re.txt" '%e' "$bin" -C "$site" build --out "$out"
        done
    done
    limit=$(median "$WORK/limit.txt" 1)
    cp=$(median "$WORK/cp.txt" 1)
    for pair in "${bins[@]}"; do
        name=${pair%%:*}
        cold=$(median "$WORK/$name-cold.txt" 1)
        re=$(median "$WORK/$name-re.txt" 1)
        awk -v s="$shape" -v n="$name" -v l="$limit" -v c="$cp" -v b="$cold" -v r="$re" 'BEGIN {
            printf "| %s | %s | %.2f | %.2f | %.2f | %.2fx | %.2f | %.2fx |\n", s, n, l, c, b, b / (l + c), r, r / l }'
    done
done
echo
echo "uptime at end: $(uptime)"
