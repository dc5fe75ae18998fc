#!/usr/bin/env bash
# Makes the screenshots of serve's pages in docs/ (serve-subscribe.png,
# serve-confirm.png, serve-unsubscribe.png, serve-unsubscribed.png) by
# running the browser test, which saves each page it passes through.
# Needs Debian's chromium and chromium-driver (installed when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
fi
NEWSROOM_REQUIRE_BROWSER=1 NEWSROOM_SCREENSHOTS="$(pwd)/docs" \
  cargo test --quiet --test integration browser:: -- --exact browser::sign_up_confirm_receive_and_unsubscribe_in_chromium
ls -l docs/serve-*.png
