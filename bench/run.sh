#!/usr/bin/env bash
# Measures `newsroom build` against "the limit": bench/harness/limit.rs, which only reads the same
# posts, parses their front matter with serde_yaml and renders them with pulldown-cmark on all
# cores. For each size and post shape (SHAPES, below) it generates a synthetic site
# (bench/harness/gen_posts.rs, ~8 KB posts), then runs, alternating, the limit and
# `newsroom -C SITE build` 3 times each under /usr/bin/time and prints the median wall time and
# peak RSS of each as a Markdown table row. It then does the
# same for each real blog in ../shared/corpus (with `build --keep-going`: babel and jest exit 1
# because of known-bad posts, which is expected).
#
# Run from anywhere (it cds to the repo root):
#   bash bench/run.sh              # sizes 1000 10000
#   bash bench/run.sh 1000 10000 100000
#   RUNS=5 bash bench/run.sh 10000     # more runs per median (default 3)
#   SHAPES=legacy bash bench/run.sh 10000   # post shapes, a row each (default: default legacy;
#                                           # see bench/harness/gen_posts.rs --shape)
# 100000 posts take ~800 MB in $TMPDIR (/tmp by default), ~1.2 GB in the legacy shape (an image
# a post), and each run's output ~150 MB (~550 MB legacy); sites and outputs are deleted at the end.
#
# The other parts of BENCHMARKS.md run after the build, each from its own script; PARTS picks
# which run (default: all, in this order):
#   build    this file (sizes from the arguments)
#   preview  bench/preview.sh $PREVIEW_SIZES (default 10000 100000 subscribers), in $TMPDIR
#            and again on tmpfs (/dev/shm) where there is one
#   send     bench/send-postfix.sh $SEND_SIZES (default 20000 100000; installs postfix)
#   import   bench/import.sh $IMPORT_SIZES (default 1000000 subscribers; installs sqlite3)
#   serve    bench/serve.sh (100000 one-click POSTs and scanner GETs at 64 connections)
#   micro    cargo bench --bench stages (divan micro-benchmarks of the hot stages)
# e.g. PARTS=preview bash bench/run.sh, or PARTS="send micro" bash bench/run.sh.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
# shellcheck source=bench/lib.sh
source bench/lib.sh
PARTS=${PARTS:-build preview send import serve micro}
want() { [[ " $PARTS " == *" $1 "* ]]; }
other_parts() {
    if want preview; then
        local preview_sizes=${PREVIEW_SIZES:-10000 100000}
        echo "== preview" && bash bench/preview.sh $preview_sizes
        if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ]; then
            echo "== preview on tmpfs" && TMPDIR=/dev/shm bash bench/preview.sh $preview_sizes
        fi
    fi
    if want send; then
        echo "== send" && bash bench/send-postfix.sh ${SEND_SIZES:-20000 100000}
    fi
    if want import; then
        echo "== import" && bash bench/import.sh ${IMPORT_SIZES:-1000000}
    fi
    if want serve; then
        echo "== serve" && bash bench/serve.sh
    fi
    if want micro; then
        echo "== micro-benchmarks" && cargo bench --bench stages
    fi
}
if ! want build; then
    other_parts
    exit 0
fi
echo "== build"
SIZES=("$@")
if [ ${#SIZES[@]} -eq 0 ]; then SIZES=(1000 10000); fi
RUNS=${RUNS:-3}
SHAPES=(${SHAPES:-default legacy})
CORPUS="$ROOT/../shared/corpus"
BLOGS=(babel backstage jest prettier react-native)

cargo build --release --examples --bins
BIN="$ROOT/target/release/newsroom"
LIMIT="$ROOT/target/release/examples/limit"
GEN="$ROOT/target/release/examples/gen_posts"

need_time

WORK=$(mktemp -d "${TMPDIR:-/tmp}/newsroom-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# Each timed run appends "seconds kb cpu%" to its file (bench/lib.sh's `timed`).
TIME_FORMAT='%e %M %P'


# copy_others POSTS_DIR DEST: copies the posts folder's files other than posts (images and
# the like) with cp, as build publishes them: what creating those files costs on its own.
copy_others() {
    mkdir -p "$2"
    (cd "$1" && find . -type f ! -name '*.md' ! -name '*.mdx' -print0 | xargs -0 -r cp --parents -t "$2")
}
export -f copy_others

# bench LABEL SITE POSTS_DIR [BUILD_FLAGS...]: prints one table row.
bench() {
    local label=$1 site=$2 posts=$3
    local slug=${label//[^a-zA-Z0-9]/-}
    shift 3
    local lf="$WORK/limit.txt" bf="$WORK/build.txt" cf="$WORK/copy.txt"
    : >"$lf"
    : >"$bf"
    : >"$cf"
    # A failed run stops the benchmark, except exit status 1 of `build --keep-going`, which
    # babel and jest give: they have posts with errors, skipped and named, and the rest is built.
    local allowed=""
    if [[ " $* " == *" --keep-going "* ]]; then allowed=1; fi
    # Each run writes a fresh output folder, and nothing is deleted until the end: for up to
    # 5 minutes after files are deleted, ext4's inode allocator checks and skips their inodes
    # (`recently_deleted`, `find_inode_bit`), which made creating build's ~400 files cost up
    # to a third of its CPU at 10k posts right after the benchmark had deleted a generated
    # site or a previous output. No rebuild minutes apart pays that. Removing an old output,
    # part of a real rebuild, is timed on its own at the end (last column).
    for run in $(seq "$RUNS"); do
        warm "$posts"
        timed "$lf" "$TIME_FORMAT" "$LIMIT" "$posts"
        warm "$posts"
        TIMED_ALLOWED_STATUS=$allowed timed "$bf" "$TIME_FORMAT" "$BIN" -C "$site" build --out "$WORK/public-$slug-$run" "$@"
        sync
        timed "$cf" "$TIME_FORMAT" bash -c 'copy_others "$0" "$1"' "$posts" "$WORK/copy-$slug-$run"
    done
    local ls bs lm bm lp bp cs
    cs=$(median "$cf" 1)
    ls=$(median "$lf" 1)
    bs=$(median "$bf" 1)
    lm=$(median "$lf" 2)
    bm=$(median "$bf" 2)
    lp=$(sed 's/%//' "$lf" | median /dev/stdin 3)
    bp=$(sed 's/%//' "$bf" | median /dev/stdin 3)
    awk -v l="$label" -v ls="$ls" -v bs="$bs" -v lm="$lm" -v bm="$bm" -v lp="$lp" -v bp="$bp" -v cs="$cs" 'BEGIN {
        r = (ls > 0) ? sprintf("%.2fx", bs / ls) : "n/a";
        printf "| %s | %.2f | %.2f | %s | %.1f | %.1f | %d%% | %d%% | %.2f |\n", l, ls, bs, r, lm / 1024, bm / 1024, lp, bp, cs }'
}

echo
echo "| size | limit s (median) | newsroom build s (median) | ratio | limit peak RSS MB | build peak RSS MB | limit CPU | build CPU | cp of the other files s |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for n in "${SIZES[@]}"; do
    for shape in "${SHAPES[@]}"; do
        site="$WORK/site-$n-$shape"
        start=$(date +%s.%N)
        "$GEN" "$site" "$n" --shape "$shape" 2>/dev/null
        gen=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
        echo "generated $n $shape posts in ${gen}s" >&2
        bench "$n $shape" "$site" "$site/posts"
    done
done
for blog in "${BLOGS[@]}"; do
    site="$WORK/corpus-$blog"
    mkdir -p "$site"
    printf 'site:\n  title: %s\n  url: https://%s.example.org\nposts: %s\n' "$blog" "$blog" "$CORPUS/$blog" \
        >"$site/newsroom.yaml"
    bench "corpus/$blog ($(find "$CORPUS/$blog" -name '*.md' -o -name '*.mdx' | wc -l) posts)" \
        "$site" "$CORPUS/$blog" --keep-going
done

echo
echo "Removing a build's output (what a rebuild adds, replacing the previous one), after all runs:"
for n in "${SIZES[@]}"; do
    for shape in "${SHAPES[@]}"; do
        rf="$WORK/remove.txt"
        : >"$rf"
        for run in $(seq "$RUNS"); do
            timed "$rf" "$TIME_FORMAT" rm -rf "$WORK/public-$n-$shape-$run"
        done
        echo "- $n $shape posts: $(median "$rf" 1) s (median of $RUNS)"
    done
done

echo
echo "Machine: $(nproc) cores, $(lscpu | grep 'Model name' | sed 's/.*: *//'), $(free -h | awk '/^Mem:/ {print $2}') RAM"
echo "Command: bash $0 $* (sizes: ${SIZES[*]})"

other_parts
