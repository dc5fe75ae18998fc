# shellcheck shell=bash
# Helpers the benchmark scripts share (run.sh, preview.sh, send-postfix.sh), so that each
# times, takes medians and installs its tools the same way. Sourced, not run:
#   cd "$(dirname "$0")/.." && source bench/lib.sh
#
#   SUDO                  "" as root, "sudo" otherwise, for the commands that install
#   apt_install PKG...    installs Debian packages, quietly and without recommends
#   need_time             installs GNU time (/usr/bin/time, which `timed` runs) when missing
#   timed OUTFILE FORMAT CMD...
#                         runs CMD under /usr/bin/time and appends one line of FORMAT
#                         (time's -f: '%e %M' is "seconds peak-kb") to OUTFILE
#   median FILE COLUMN    the median of a column of numbers
#   warm DIR              reads DIR's posts into the page cache, then syncs
#   serve_site SITE LIST_ID N
#                         a site for serve's benchmarks (no rate limit in the way), and
#                         $WORK/list.csv of N readers to import into it
#
# `timed` needs $WORK, the script's scratch folder: CMD's output goes to $WORK/cmd.out and
# $WORK/cmd.err, where the caller may read it after.

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi

# apt_install PACKAGE...: apt-get update, then install PACKAGE... without recommends.
apt_install() {
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# need_time: GNU time, for `timed` (the shell's `time` keyword reports no peak RSS).
need_time() {
    if [ ! -x /usr/bin/time ]; then apt_install time; fi
}

# timed OUTFILE FORMAT CMD...: runs CMD under /usr/bin/time -f FORMAT and appends time's
# line to OUTFILE. A failed command stops the benchmark, its output and status shown: a run
# that failed early would count as fast. TIMED_ALLOWED_STATUS (space-separated, empty by
# default) names exit statuses besides 0 that are expected and timed like a success, e.g.
#   TIMED_ALLOWED_STATUS=1 timed "$out" '%e %M' newsroom build --keep-going
timed() {
    local out=$1 format=$2
    shift 2
    local status=0
    /usr/bin/time -o "$WORK/time.txt" -f "$format" "$@" >"$WORK/cmd.out" 2>"$WORK/cmd.err" || status=$?
    if [ "$status" -ne 0 ] && [[ " ${TIMED_ALLOWED_STATUS:-} " != *" $status "* ]]; then
        cat "$WORK/cmd.out" "$WORK/cmd.err" >&2
        echo "bench: \`$*\` exited $status" >&2
        exit 1
    fi
    # With a non-zero exit status, time writes "Command exited with non-zero status N" first.
    tail -n 1 "$WORK/time.txt" >>"$out"
}

# median FILE COLUMN: the median of a column of space-separated numbers.
median() {
    sort -g <(cut -d' ' -f"$2" "$1") | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'
}

# serve_site SITE LIST_ID N: writes SITE/newsroom.yaml for serve's benchmarks (List-Id LIST_ID,
# serve's rate limit out of the way) and $WORK/list.csv, a subscriber file of N readers.
serve_site() {
    mkdir -p "$1"
    cat >"$1/newsroom.yaml" <<YAML
site:
  title: Bench
  url: https://bench.example.org
digest:
  list_id: $2
serve:
  public_url: https://bench.example.org/newsletter
  requests_per_second: 1000000
YAML
    awk -v n="$3" 'BEGIN { print "email"; for (i = 1; i <= n; i++) printf "reader%07d@example.org\n", i }' >"$WORK/list.csv"
}

# warm DIR: reads every post once so that both programs start with the posts in the page
# cache. (The machines here drop page cache within a minute or so; without this, whichever
# program ran first after a pause paid for the disk.) Then `sync`, so that neither pays for
# writing back what ran before it (the generated site, the previous build's output).
warm() {
    find "$1" -type f \( -name '*.md' -o -name '*.mdx' \) -print0 | xargs -0 cat >/dev/null
    sync
}
