#!/usr/bin/env bash
# Fetches a music set (ci | dev | negatives) into .cache/music/<set> with the shared fetch script
# (real, freely licensed music from Debian packages). Idempotent: a second run only re-checks.
#
#   bash infra/music.sh ci
set -euo pipefail
set_name=${1:?usage: infra/music.sh ci|dev|negatives}
root=$(cd "$(dirname "$0")/.." && pwd)
fetch=${BLINDEAR_FETCH_MUSIC:-$root/../shared/data/fetch-music.sh}
out=$root/.cache/music/$set_name
if [[ -s "$out/manifest.tsv" && $(wc -l < "$out/manifest.tsv") -gt 1 ]]; then
  echo "music: $(($(wc -l < "$out/manifest.tsv") - 1)) tracks of '$set_name' already in $out" >&2
  exit 0
fi
[[ -x "$fetch" || -f "$fetch" ]] || { echo "music: fetch script not found at $fetch (set BLINDEAR_FETCH_MUSIC)" >&2; exit 1; }
mkdir -p "$root/.cache/music"
# The fetch script checks decodability with the bundled ffmpeg when Debian's is absent.
cd "$root"
FFMPEG=${FFMPEG:-$root/node_modules/@ffmpeg-installer/linux-x64/ffmpeg} bash "$fetch" "$set_name" "$out" >&2
