#!/usr/bin/env bash
# html-check.sh — check HTML files with the Nu HTML Checker (vnu), errors only.
#
# Usage:   scripts/html-check.sh FILE_OR_DIR...
# Example: scripts/html-check.sh public/digest/2026-10/index.html
#
# Runs `java -jar vnu.jar --errors-only` on the given files (a directory is
# checked recursively for .html/.htm/.xhtml files), prints each error as
# `path:line.col: error: message`, then a summary line such as
#   html-check: 3 files, 0 errors
# and exits 0 only when there were no errors. Warnings and info messages
# (e.g. obsolete presentational attributes such as cellpadding, valign,
# bgcolor) are not errors for vnu and are not reported here.
#
# On first use it installs what it needs, quietly and outside the repository:
#   - Java 11+ (`java` on PATH); if missing: apt-get install default-jre-headless
#   - node and npm; if missing: apt-get install nodejs npm
#   - the npm package vnu-jar (pinned, see VNU_JAR_VERSION) into
#     ${XDG_CACHE_HOME:-$HOME/.cache}/newsroom-vnu
# Later runs reuse both. vnu-jar's postinstall step (which would try to
# download a Java runtime from GitHub) is skipped with --ignore-scripts.
#
# Environment:
#   VNU_JAR_VERSION  vnu-jar version to install (default below)
#   NEWSROOM_VNU_DIR install directory (default: $XDG_CACHE_HOME/newsroom-vnu)
set -euo pipefail

VNU_JAR_VERSION="${VNU_JAR_VERSION:-26.9.27}"
VNU_DIR="${NEWSROOM_VNU_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/newsroom-vnu}"
VNU_PKG="$VNU_DIR/node_modules/vnu-jar"
VNU_JAR="$VNU_PKG/build/dist/vnu.jar"

die() { echo "html-check: $*" >&2; exit 2; }

usage() {
    echo "usage: $0 FILE_OR_DIR..." >&2
    exit 2
}

# Run a command quietly; on failure show its output and stop.
quiet() {
    local log
    log="$(mktemp)"
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        die "failed: $*"
    fi
    rm -f "$log"
}

java_ok() {
    command -v java >/dev/null 2>&1 || return 1
    local v
    v="$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)"
    [ -n "$v" ] && [ "$v" -ge 11 ]
}

apt_install() {
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "need root or sudo to apt-get install $*"
        sudo="sudo"
    fi
    quiet $sudo apt-get update -qq
    quiet $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

ensure_java() {
    java_ok && return 0
    echo "html-check: installing Java (default-jre-headless) ..." >&2
    apt_install default-jre-headless
    java_ok || die "java 11+ still not available after installing default-jre-headless"
}

# npm installs vnu-jar; node also formats vnu's JSON report.
ensure_node() {
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 && return 0
    echo "html-check: installing nodejs and npm ..." >&2
    apt_install nodejs npm
}

installed_vnu_version() {
    [ -s "$VNU_JAR" ] && [ -f "$VNU_PKG/package.json" ] || return 0
    sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$VNU_PKG/package.json" | head -n1
}

ensure_vnu() {
    [ "$(installed_vnu_version)" = "$VNU_JAR_VERSION" ] && return 0
    mkdir -p "$VNU_DIR"
    # Serialise concurrent first runs.
    exec 9>"$VNU_DIR/.install.lock"
    flock 9
    if [ "$(installed_vnu_version)" != "$VNU_JAR_VERSION" ]; then
        echo "html-check: installing vnu-jar@$VNU_JAR_VERSION into $VNU_DIR ..." >&2
        quiet npm install --prefix "$VNU_DIR" --no-audit --no-fund --ignore-scripts \
            --loglevel=error "vnu-jar@$VNU_JAR_VERSION"
        [ "$(installed_vnu_version)" = "$VNU_JAR_VERSION" ] || die "vnu.jar missing after npm install: $VNU_JAR"
    fi
    flock -u 9
    exec 9>&-
}

[ "$#" -gt 0 ] || usage
case "$1" in -h|--help) usage ;; esac

# vnu silently skips paths that do not exist (and exits 0), so check first.
# Directories are expanded here (vnu itself would also check non-HTML files).
files=()
missing=0
for arg in "$@"; do
    if [ -d "$arg" ]; then
        while IFS= read -r -d '' f; do
            files+=("$f")
        done < <(find "$arg" -type f \( -name '*.html' -o -name '*.htm' -o -name '*.xhtml' \) -print0 | sort -z)
    elif [ -f "$arg" ] && [ -r "$arg" ]; then
        files+=("$arg")
    else
        echo "$arg: error: no such readable file or directory" >&2
        missing=$((missing + 1))
    fi
done
if [ "$missing" -gt 0 ]; then
    echo "html-check: $missing of $# paths missing, nothing checked" >&2
    exit 1
fi
nfiles=${#files[@]}
if [ "$nfiles" -eq 0 ]; then
    echo "html-check: no HTML files found in: $*" >&2
    exit 1
fi

ensure_java
ensure_node
ensure_vnu

out="$(mktemp)"
err="$(mktemp)"
trap 'rm -f "$out" "$err"' EXIT

# JSON on stdout so errors can be counted exactly; Java's own output stays on stderr.
set +e
java -jar "$VNU_JAR" --errors-only --stdout --format json "${files[@]}" >"$out" 2>"$err"
rc=$?
set -e

# Print messages as `path:line.col: type: message` and count them.
nerrors="$(node - "$out" "$PWD" <<'EOF'
const fs = require('fs');
const path = require('path');
const [file, cwd] = process.argv.slice(2);
let data;
try {
  data = JSON.parse(fs.readFileSync(file, 'utf8'));
} catch (e) {
  console.log(-1);
  process.exit(0);
}
let n = 0;
for (const m of data.messages || []) {
  if (m.type !== 'error' && m.type !== 'non-document-error') continue;
  n++;
  let where = m.url || '';
  if (where.startsWith('file:')) {
    where = path.relative(cwd, decodeURIComponent(where.replace(/^file:(\/\/)?/, '/').replace(/^\/+/, '/')));
  }
  const line = m.lastLine !== undefined ? `:${m.firstLine ?? m.lastLine}.${m.firstColumn ?? m.lastColumn ?? 0}` : '';
  const kind = m.subType ? `${m.type} (${m.subType})` : m.type;
  process.stderr.write(`${where}${line}: ${kind}: ${m.message}\n`);
}
console.log(n);
EOF
)"

if [ "$nerrors" = "-1" ]; then
    # Not JSON: vnu or Java failed before checking; show what it said.
    cat "$out" "$err" >&2
    echo "html-check: vnu failed (exit $rc) on $nfiles files" >&2
    exit 1
fi
[ -s "$err" ] && cat "$err" >&2

plural() { if [ "$1" -eq 1 ]; then echo "$1 $2"; else echo "$1 $2s"; fi; }
echo "html-check: $(plural "$nfiles" file), $(plural "$nerrors" error)"

if [ "$nerrors" -gt 0 ] || [ "$rc" -ne 0 ]; then
    exit 1
fi
