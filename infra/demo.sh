#!/usr/bin/env bash
# The demo: start a local Kafka broker, fetch real songs, enrol a few, mix a "radio" programme (excerpts
# at random offsets, one never-enrolled track, silence and noise between), run two scoring workers and
# stream the programme through the encrypted pipeline, printing predictions as they arrive.
# Stops everything it started, also on Ctrl-C or failure.
#
#   npm run demo                      enrol a few songs of the `ci` set (fetched from Debian packages)
#   npm run demo -- --music <dir>     enrol your own folder of music instead (any format ffmpeg reads)
set -euo pipefail
user_music=""
while (($# > 0)); do
  case "$1" in
    --music) (($# >= 2)) || { echo "demo: --music needs a folder" >&2; exit 2; }; user_music=$(cd "$2" 2>/dev/null && pwd) || { echo "demo: no folder $2" >&2; exit 2; }; shift 2 ;;
    --music=*) user_music=$(cd "${1#--music=}" 2>/dev/null && pwd) || { echo "demo: no folder ${1#--music=}" >&2; exit 2; }; shift ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo: unknown option '$1' (expected --music <dir>)" >&2; exit 2 ;;
  esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
work=$root/.cache/demo
blindear() { node "$root/bin/blindear.js" "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

[[ -d node_modules && -f dist/pipeline/cli/main.js ]] || { echo "demo: run 'npm ci' first" >&2; exit 1; }
bash infra/setup.sh

free_port() { node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
port=${BLINDEAR_DEMO_PORT:-$(free_port)}
pids=()
cleanup() {
  set +e
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  bash infra/kafka.sh stop --port "$port" --dir "$root/var/kafka-demo" >/dev/null 2>&1
}
trap cleanup EXIT INT TERM

say "starting Kafka (KRaft, single node) on 127.0.0.1:$port"
# A free port (or the controller's, next to it) can be taken by another process before the broker binds
# it: then a new port, up to three times, unless BLINDEAR_DEMO_PORT names one.
for attempt in 1 2 3; do
  brokers=$(bash infra/kafka.sh start --port "$port" --dir "$root/var/kafka-demo") && break
  [[ -z "${BLINDEAR_DEMO_PORT:-}" && $attempt -lt 3 ]] || exit 1
  bash infra/kafka.sh stop --port "$port" --dir "$root/var/kafka-demo" >/dev/null 2>&1
  rm -rf "$root/var/kafka-demo"
  port=$(free_port)
  say "the broker did not start; again on 127.0.0.1:$port"
done
blindear topics --brokers "$brokers" --partitions 2

music=$root/.cache/music/ci
rm -rf "$work" && mkdir -p "$work/enrol"
if [[ -n "$user_music" ]]; then
  # Your folder is enrolled as it is; the programme takes excerpts of three of its songs and one
  # never-enrolled song of the `negatives` set.
  mapfile -t all < <(cd "$user_music" && find -L . -type f \( -iname '*.ogg' -o -iname '*.mp3' -o -iname '*.flac' -o -iname '*.opus' -o -iname '*.wav' -o -iname '*.m4a' \) | sed 's|^\./||' | sort)
  ((${#all[@]} > 0)) || { echo "demo: no audio files (ogg, mp3, flac, opus, wav, m4a) under $user_music" >&2; exit 1; }
  enrol_dir=$user_music
  n=${#all[@]}
  programme=("${all[0]}")
  ((n > 2)) && programme+=("${all[$((n / 2))]}")
  ((n > 1)) && programme+=("${all[$((n - 1))]}")
  unknown=$root/.cache/music/negatives/$(cut -f1 "$root/.cache/music/negatives/manifest.tsv" | sed -n 2p)
  say "enrolling ${n} tracks of $user_music (landmark features, segment templates)"
else
  # A few songs from each package of the ci set; one more is kept back as the never-enrolled track.
  mapfile -t picked < <(cut -f1 "$music/manifest.tsv" | tail -n +2 | awk -F/ '{ n[$1]++; if (n[$1] <= 4) print }')
  mapfile -t held < <(cut -f1 "$music/manifest.tsv" | tail -n +2 | awk -F/ '{ n[$1]++; if (n[$1] == 5) print }')
  for t in "${picked[@]}"; do mkdir -p "$work/enrol/$(dirname "$t")"; ln -s "$music/$t" "$work/enrol/$t"; done
  enrol_dir=$work/enrol
  programme=("${picked[1]}" "${picked[6]}" "${picked[9]}")
  unknown=$music/${held[0]}
  say "enrolling ${#picked[@]} tracks (landmark features, segment templates)"
fi
blindear enroll "$enrol_dir" --catalog "$work/catalog"

say "mixing a radio programme (truth below)"
blindear mix-radio --catalog-dir "$enrol_dir" --tracks "${programme[@]}" \
  --unknown "$unknown" --out "$work/radio.wav" --excerpt-seconds 30 --seed "${BLINDEAR_DEMO_SEED:-7}"

say "starting two scoring workers (server zone: they only ever see ciphertexts)"
# Each process serves /metrics on a port of its own; `npm run prometheus` beside the demo scrapes them.
metrics_ports=("$(free_port)" "$(free_port)" "$(free_port)")
printf '[{"targets":["127.0.0.1:%s","127.0.0.1:%s"],"labels":{"job":"blindear-scorer"}},{"targets":["127.0.0.1:%s"],"labels":{"job":"blindear-stream"}}]\n' \
  "${metrics_ports[@]}" >"$work/prometheus-targets.json"
for i in 1 2; do
  # node itself in the background (not through the shell function), so $! is the process to stop.
  node "$root/bin/blindear.js" worker scorer --brokers "$brokers" --catalog "$work/catalog" --metrics-port "${metrics_ports[$((i - 1))]}" \
    --log-level warn 2>"$work/worker-$i.log" >/dev/null &
  pids+=($!)
done

say "streaming the programme through the pipeline (client zone: keys, windows, decryption)"
blindear stream "$work/radio.wav" --catalog "$work/catalog" --brokers "$brokers" --format text --station demo-radio \
  --metrics-port "${metrics_ports[2]}" ${BLINDEAR_DEMO_REALTIME:+--realtime}
say "done: the programme above is what played; every line is a prediction decrypted by the client"
