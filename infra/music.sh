#!/usr/bin/env bash
# Fetches a music set (ci | dev | negatives | scale) into .cache/music/<set> with infra/music/fetch.py
# (real, freely licensed music from Debian packages). Idempotent: a second run only re-checks.
#
#   bash infra/music.sh ci
set -euo pipefail
set_name=${1:?usage: infra/music.sh ci|dev|negatives|scale}
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/.cache/music/$set_name
if [[ -s "$out/manifest.tsv" && $(wc -l < "$out/manifest.tsv") -gt 1 ]]; then
  echo "music: $(($(wc -l < "$out/manifest.tsv") - 1)) tracks of '$set_name' already in $out" >&2
  exit 0
fi
command -v python3 >/dev/null || { echo "music: python3 is required to fetch the music (Debian: apt-get install python3)" >&2; exit 1; }
mkdir -p "$root/.cache/music"
python3 "$root/infra/music/fetch.py" "$set_name" "$out"
