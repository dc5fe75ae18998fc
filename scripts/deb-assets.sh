#!/usr/bin/env bash
# What the Debian package ships besides the binary, generated from the
# binary itself so it cannot drift from --help: one man page per command
# and the bash, zsh and fish completions, into target/deb-assets/. Run
# after `cargo build --release`, before `cargo deb --no-build`
# ([package.metadata.deb] in Cargo.toml lists these paths).
set -euo pipefail
cd "$(dirname "$0")/.."
newsroom=${1:-target/release/newsroom}
out=target/deb-assets
rm -rf "$out"
mkdir -p "$out/man" "$out/completions"
"$newsroom" man --out "$PWD/$out/man" > /dev/null
gzip -9n "$out"/man/*.1
"$newsroom" completions bash > "$out/completions/newsroom"
"$newsroom" completions zsh > "$out/completions/_newsroom"
"$newsroom" completions fish > "$out/completions/newsroom.fish"
