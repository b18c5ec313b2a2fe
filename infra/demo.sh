#!/usr/bin/env bash
# The demo: start a local Kafka broker, fetch real songs, enrol a few, mix a "radio" programme (excerpts
# at random offsets, one never-enrolled track, silence and noise between), run two scoring workers and
# stream the programme through the encrypted pipeline, printing predictions as they arrive.
# Stops everything it started, also on Ctrl-C or failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
work=$root/.cache/demo
blindear() { node "$root/bin/blindear.js" "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

[[ -d node_modules && -f dist/pipeline/cli/main.js ]] || { echo "demo: run 'npm ci' first" >&2; exit 1; }
bash infra/setup.sh

port=${BLINDEAR_DEMO_PORT:-$(node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")}
pids=()
cleanup() {
  set +e
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  bash infra/kafka.sh stop --port "$port" --dir "$root/var/kafka-demo" >/dev/null 2>&1
}
trap cleanup EXIT INT TERM

say "starting Kafka (KRaft, single node) on 127.0.0.1:$port"
brokers=$(bash infra/kafka.sh start --port "$port" --dir "$root/var/kafka-demo")
blindear topics --brokers "$brokers" --partitions 2

music=$root/.cache/music/ci
rm -rf "$work" && mkdir -p "$work/enrol"
# A few songs from each package of the ci set; one more is kept back as the never-enrolled track.
mapfile -t picked < <(cut -f1 "$music/manifest.tsv" | tail -n +2 | awk -F/ '{ n[$1]++; if (n[$1] <= 4) print }')
mapfile -t held < <(cut -f1 "$music/manifest.tsv" | tail -n +2 | awk -F/ '{ n[$1]++; if (n[$1] == 5) print }')
for t in "${picked[@]}"; do mkdir -p "$work/enrol/$(dirname "$t")"; ln -s "$music/$t" "$work/enrol/$t"; done

say "enrolling ${#picked[@]} tracks (landmark features, segment templates)"
blindear enroll "$work/enrol" --catalog "$work/catalog"

say "mixing a radio programme (truth below)"
blindear mix-radio --catalog-dir "$work/enrol" --tracks "${picked[1]}" "${picked[6]}" "${picked[9]}" \
  --unknown "$music/${held[0]}" --out "$work/radio.wav" --excerpt-seconds 30 --seed "${BLINDEAR_DEMO_SEED:-7}"

say "starting two scoring workers (server zone: they only ever see ciphertexts)"
for i in 1 2; do
  # node itself in the background (not through the shell function), so $! is the process to stop.
  node "$root/bin/blindear.js" worker scorer --brokers "$brokers" --catalog "$work/catalog" --log-level warn 2>"$work/worker-$i.log" >/dev/null &
  pids+=($!)
done

say "streaming the programme through the pipeline (client zone: keys, windows, decryption)"
blindear stream "$work/radio.wav" --catalog "$work/catalog" --brokers "$brokers" --format text
say "done: the programme above is what played; every line is a prediction decrypted by the client"
