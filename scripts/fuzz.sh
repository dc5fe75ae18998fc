#!/usr/bin/env bash
# Fuzzes newsroom's inputs (issue 6): posts (.md and .mdx), Markdown rendering
# to feed and email HTML, the subscriber CSV, newsroom.yaml and
# templates/digest.md, and returned mail (`inbound`). One target at a time, one job each.
#
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]    (default 600, all targets)
#
# Works on the stable toolchain: cargo-fuzz needs `-Z` flags (sanitizer
# coverage), which RUSTC_BOOTSTRAP=1 allows on stable. The targets are built
# without AddressSanitizer (`--sanitizer none`): newsroom and the libraries it
# fuzzes are safe Rust, so what is looked for is panics (debug assertions and
# overflow checks are on), hangs, memory blow-ups and broken invariants, and
# ASan would only halve the executions per second.
#
# Seed corpora are gathered into fuzz/corpus/<target>/ (not tracked; libFuzzer
# adds what it finds there) from ../shared/corpus, the example site and the
# hand-written edge cases in fuzz/seeds/<target>/. Findings land in
# fuzz/artifacts/<target>/; reproduce one with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none TARGET fuzz/artifacts/TARGET/crash-...
# and shrink it with `cargo fuzz tmin` (same flags).
#
# Exits non-zero when any target finds a crash, hang or out-of-memory input.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=$(cd .. && pwd)/shared
seconds=${1:-600}
shift || true
all_targets=(post_md post_mdx render subscribers_csv config_yaml digest_template inbound)
[ $# -gt 0 ] && targets=("$@") || targets=("${all_targets[@]}")

export RUSTC_BOOTSTRAP=1 CARGO_TERM_COLOR=never
fuzz_flags=(--sanitizer none)

step() { printf '\n=== %s\n' "$*"; }

if ! cargo fuzz --version > /dev/null 2>&1; then
  step "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

step "building the fuzz targets"
cargo fuzz build "${fuzz_flags[@]}"

step "gathering seed corpora into fuzz/corpus/"
corpus=fuzz/corpus
mkdir -p fuzz/logs
for target in "${all_targets[@]}"; do mkdir -p "$corpus/$target"; done
sources=(posts tests)
if [ -d "$shared/corpus" ]; then
  sources+=("$shared/corpus")
else
  echo "warning: $shared/corpus not found; seeding from the repository only" >&2
fi
# seed TARGET FILE...: copies files in under names that keep them apart.
seed() {
  local target=$1
  shift
  local file
  for file in "$@"; do
    cp "$file" "$corpus/$target/seed-$(printf '%s' "$file" | cksum | cut -d' ' -f1)"
  done
}
# The body of a post: everything after its front matter.
body_of() {
  awk 'NR == 1 && /^---[ \t\r]*$/ { in_head = 1; next } in_head && /^---[ \t\r]*$/ { in_head = 0; next } !in_head' "$1"
}
mapfile -t md_files < <(find "${sources[@]}" -name '*.md' -type f)
mapfile -t mdx_files < <(find "${sources[@]}" -name '*.mdx' -type f)
seed post_md "${md_files[@]}"
seed post_mdx "${mdx_files[@]}"
for file in "${md_files[@]}" "${mdx_files[@]}"; do
  body_of "$file" > "$corpus/render/seed-$(printf '%s' "$file" | cksum | cut -d' ' -f1)"
done
mapfile -t csv_files < <(find "${sources[@]}" -name '*.csv' -type f)
seed subscribers_csv subscribers.example.csv "${csv_files[@]}"
mapfile -t yaml_files < <(find "${sources[@]}" \( -name '*.yml' -o -name '*.yaml' \) -type f)
seed config_yaml newsroom.yaml "${yaml_files[@]}"
for blog in babel backstage jest prettier react-native; do
  # The configuration CI builds the corpus blogs with.
  printf 'site:\n  title: %s blog\n  url: https://%s.example.org\n  author: { name: The %s team }\nposts: corpus/%s\n' \
    "$blog" "$blog" "$blog" "$blog" > "$corpus/config_yaml/seed-ci-$blog"
done
seed digest_template templates/digest.md
{ cat templates/digest.md; printf '\0'; cat templates/email.css; } > "$corpus/digest_template/seed-with-css"
mapfile -t eml_files < <(find tests/fixtures/returned -name '*.eml' -type f)
seed inbound "${eml_files[@]}"

dict_of() {
  case $1 in
    post_md | post_mdx | render) echo fuzz/dicts/markdown.dict ;;
    subscribers_csv) echo fuzz/dicts/csv.dict ;;
    config_yaml | digest_template) echo fuzz/dicts/yaml.dict ;;
    inbound) echo fuzz/dicts/mail.dict ;;
  esac
}

failed=()
summary=()
for target in "${targets[@]}"; do
  step "fuzzing $target for ${seconds}s"
  artifacts=fuzz/artifacts/$target
  mkdir -p "$artifacts"
  before=$(find "$artifacts" -type f | wc -l)
  log=fuzz/logs/$target.log
  set +e
  cargo fuzz run "${fuzz_flags[@]}" "$target" "$corpus/$target" "fuzz/seeds/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -dict="$(dict_of "$target")" \
    -print_final_stats=1 > "$log" 2>&1
  status=$?
  set -e
  found=$(($(find "$artifacts" -type f | wc -l) - before))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  last=$( (grep -E "^#[0-9]+" "$log" || true) | tail -n 1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<< "$last")
  line=$(printf '%-16s execs %-9s (%s/s)  cov %-6s ft %-6s corpus %-6s findings %s' \
    "$target" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$found")
  summary+=("$line")
  echo "$line"
  if [ "$status" -ne 0 ] || [ "$found" -gt 0 ]; then
    failed+=("$target")
    grep -E 'panicked at|ERROR: libFuzzer|SUMMARY|Test unit written' "$log" | head -n 8 || true
    echo "full log: $log; findings in $artifacts/" >&2
  fi
done

step "summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "findings in: ${failed[*]}" >&2
  exit 1
fi
echo "no crashes, hangs or out-of-memory inputs"
