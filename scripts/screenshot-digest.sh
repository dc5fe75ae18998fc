#!/usr/bin/env bash
# screenshot-digest.sh — regenerate the README's screenshot of the example digest.
#
# Usage:   scripts/screenshot-digest.sh [MONTH]      (MONTH is YYYY-MM, default 2026-10)
# Output:  docs/digest-example.png
#
# The README's light and dark pair (the page as a client that follows
# prefers-color-scheme shows it, the top 900 px):
#   SCREENSHOT_SCHEME=light SCREENSHOT_HEIGHT=900 SCREENSHOT_OUT=docs/digest-light.png scripts/screenshot-digest.sh
#   SCREENSHOT_SCHEME=dark SCREENSHOT_HEIGHT=900 SCREENSHOT_OUT=docs/digest-dark.png scripts/screenshot-digest.sh
#
# What it does:
#   1. Installs Debian's chromium (+ fonts-dejavu-core) with apt-get if
#      /usr/bin/chromium is missing. Only Debian's package works here: a
#      browser build of its own (puppeteer/playwright download) cannot be fetched.
#   2. From the repository root, renders the digest with fixed inputs so the
#      picture is reproducible:
#        NEWSROOM_NOW=2026-11-22T12:00:00Z NEWSROOM_UNSUBSCRIBE_SECRET=screenshot-secret-0123456789abcdef0123456789 \
#        cargo run --release --quiet -- digest preview --month MONTH --out "$tmp"
#      which writes "$tmp/MONTH/index.html".
#   3. Measures the page height with headless Chromium (--dump-dom on a copy
#      of the page with a tiny measuring script), then screenshots the whole
#      page at that height (capped by SCREENSHOT_MAX_HEIGHT) into a temporary
#      PNG, checks it is not blank, and moves it to docs/digest-example.png.
#
# Images in the digest are remote URLs; they do not load on a machine without
# internet, so their alt text shows instead. --timeout stops Chromium from
# waiting forever on an image host that never answers, and the
# background-networking flags keep Chromium's own traffic off the network.
#
# Environment (all optional):
#   DIGEST_HTML=path/to/index.html  screenshot this file instead of running cargo
#   SCREENSHOT_OUT=path.png         output file (default: docs/digest-example.png)
#   SCREENSHOT_WIDTH=700            window width in CSS px (the email is 600 wide)
#   SCREENSHOT_HEIGHT=N             fixed window height; skips measuring the page
#   SCREENSHOT_MAX_HEIGHT=8000      cap on the measured height
#   SCREENSHOT_TIMEOUT_MS=15000     stop loading the page after this long
#   SCREENSHOT_SCHEME=light|dark    the colour scheme the page is asked for
#                                   (prefers-color-scheme; default light)
set -euo pipefail

MONTH="${1:-2026-10}"
if ! [[ "$MONTH" =~ ^[0-9]{4}-(0[1-9]|1[0-2])$ ]]; then
    echo "usage: $0 [YYYY-MM]  (got: $MONTH)" >&2
    exit 2
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

OUT="${SCREENSHOT_OUT:-$ROOT/docs/digest-example.png}"
WIDTH="${SCREENSHOT_WIDTH:-700}"
MAX_HEIGHT="${SCREENSHOT_MAX_HEIGHT:-8000}"
TIMEOUT_MS="${SCREENSHOT_TIMEOUT_MS:-15000}"
# Blink's preferredColorScheme: 0 is dark, 1 light.
case "${SCREENSHOT_SCHEME:-light}" in
    light) SCHEME=1 ;;
    dark) SCHEME=0 ;;
    *) echo "SCREENSHOT_SCHEME must be light or dark (got: $SCREENSHOT_SCHEME)" >&2; exit 2 ;;
esac
CHROMIUM=/usr/bin/chromium

say() { echo "screenshot-digest: $*" >&2; }
die() { say "$*"; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Run a command quietly; on failure show its output and stop.
quiet() {
    if ! "$@" >"$tmp/quiet.log" 2>&1; then
        cat "$tmp/quiet.log" >&2
        die "failed: $*"
    fi
}

# 1. Chromium from Debian.
if [ ! -x "$CHROMIUM" ]; then
    say "installing chromium and fonts-dejavu-core with apt-get ..."
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "need root or sudo to apt-get install chromium"
        sudo="sudo"
    fi
    quiet $sudo apt-get update -qq
    quiet $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core
    [ -x "$CHROMIUM" ] || die "$CHROMIUM still missing after apt-get install chromium"
fi

# 2. The digest HTML.
if [ -n "${DIGEST_HTML:-}" ]; then
    [ -f "$DIGEST_HTML" ] || die "DIGEST_HTML=$DIGEST_HTML does not exist"
    html="$(cd "$(dirname "$DIGEST_HTML")" && pwd)/$(basename "$DIGEST_HTML")"
else
    say "rendering the $MONTH digest with cargo ..."
    NEWSROOM_NOW=2026-11-22T12:00:00Z NEWSROOM_UNSUBSCRIBE_SECRET=screenshot-secret-0123456789abcdef0123456789 \
        cargo run --release --quiet -- digest preview --month "$MONTH" --out "$tmp/digest"
    html="$tmp/digest/$MONTH/index.html"
    [ -f "$html" ] || die "digest preview did not write $html"
fi

# Headless Chromium with everything that would reach the network switched off.
# Each run gets a fresh throw-away profile. Its stderr (dbus noise) goes to a log.
chrome() {
    local profile
    profile="$(mktemp -d "$tmp/profile.XXXXXX")"
    "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --disable-default-apps --disable-extensions --no-default-browser-check \
        --user-data-dir="$profile" --hide-scrollbars --force-device-scale-factor=1 \
        --blink-settings=preferredColorScheme="$SCHEME" \
        --timeout="$TIMEOUT_MS" "$@" 2>"$tmp/chromium.log"
}

file_url() { printf 'file://%s' "$(printf '%s' "$1" | sed 's/%/%25/g; s/ /%20/g; s/#/%23/g; s/?/%3F/g')"; }

# 3a. Page height: load a sibling copy of the page (same relative URLs) with a
#     script that records the document height, and read it back from --dump-dom.
height="${SCREENSHOT_HEIGHT:-}"
if [ -z "$height" ]; then
    measure="$(dirname "$html")/.screenshot-measure.$$.html"
    measure_js='<script>(function(){function m(){var d=document.documentElement,b=document.body;d.setAttribute("data-screenshot-height",Math.ceil(Math.max(d.scrollHeight,b?b.scrollHeight:0)));}m();addEventListener("load",m);})();</script>'
    if grep -qi '</body>' "$html"; then
        sed "s#</[Bb][Oo][Dd][Yy]>#${measure_js}&#" "$html" >"$measure"
    else
        { cat "$html"; printf '%s\n' "$measure_js"; } >"$measure"
    fi
    height="$(chrome --window-size="$WIDTH,800" --dump-dom "$(file_url "$measure")" \
        | sed -n 's/.*data-screenshot-height="\([0-9]*\)".*/\1/p' | head -n1 || true)"
    rm -f "$measure"
    if [ -z "$height" ] || [ "$height" -lt 100 ]; then
        say "could not measure the page height; using 2400"
        height=2400
    fi
    if [ "$height" -gt "$MAX_HEIGHT" ]; then
        say "page is ${height}px tall; capping the screenshot at ${MAX_HEIGHT}px"
        height="$MAX_HEIGHT"
    fi
fi

# 3b. The screenshot, written to a temporary file first.
shot="$tmp/shot.png"
if ! chrome --window-size="$WIDTH,$height" --screenshot="$shot" "$(file_url "$html")" >/dev/null \
    || [ ! -s "$shot" ]; then
    cat "$tmp/chromium.log" >&2
    die "chromium did not write a screenshot"
fi

# A blank page compresses to ~0.006 bytes/pixel, a rendered digest to ~0.08.
bytes="$(wc -c <"$shot")"
if [ "$bytes" -lt $((WIDTH * height / 50)) ]; then
    die "screenshot looks blank ($bytes bytes for ${WIDTH}x${height}); not replacing $OUT"
fi

mkdir -p "$(dirname "$OUT")"
mv "$shot" "$OUT"
say "wrote $OUT (${WIDTH}x${height}, $bytes bytes) from $html"
