#!/usr/bin/env bash
# Prometheus and promtool for blindear's tests and demo, from Debian's `prometheus` package, unpacked
# into .cache/prometheus (apt-get download + dpkg-deb -x: nothing is installed system-wide).
#
#   bash infra/prometheus.sh install                        fetch and unpack (idempotent); prints the bin dir
#   bash infra/prometheus.sh start --port P --config F --dir D   background server; prints http://127.0.0.1:P
#   bash infra/prometheus.sh stop --dir D                   SIGTERM, then SIGKILL after 10 s; ok if not running
#   bash infra/prometheus.sh promtool ARGS...               run promtool (e.g. check metrics < exposition)
#   bash infra/prometheus.sh demo [--port P]                foreground, scraping the running demo (npm run prometheus)
#
# The demo writes its processes' metrics addresses to .cache/demo/prometheus-targets.json; `demo` serves
# Prometheus on 127.0.0.1:9090 (or P) with infra/prometheus/prometheus.local.yml and the recording
# of .cache/prometheus/demo-data; Grafana can point at it with infra/grafana/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
CACHE="$ROOT/.cache/prometheus"
BIN="$CACHE/root/usr/bin"
say() { printf 'prometheus.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

cmd_install() {
  if [[ -x "$BIN/prometheus" && -x "$BIN/promtool" ]]; then printf '%s\n' "$BIN"; return 0; fi
  command -v apt-get >/dev/null || die "apt-get not found: Prometheus comes from Debian's prometheus package"
  command -v dpkg-deb >/dev/null || die "dpkg-deb not found: Prometheus comes from Debian's prometheus package"
  mkdir -p "$CACHE/debs"
  exec 9>"$CACHE/install.lock"
  flock 9
  if [[ -x "$BIN/prometheus" ]]; then printf '%s\n' "$BIN"; return 0; fi
  if ! apt-cache show prometheus >/dev/null 2>&1; then
    [[ $(id -u) -eq 0 ]] || die "apt knows no package 'prometheus': run 'apt-get update' as root once"
    say "no apt package lists yet: apt-get update"
    apt-get update -qq
  fi
  if ! ls "$CACHE/debs"/prometheus_*.deb >/dev/null 2>&1; then
    say "downloading Debian's prometheus package"
    local sandbox=()
    [[ $(id -u) -eq 0 ]] && sandbox=(-o APT::Sandbox::User=root)
    (cd "$CACHE/debs" && apt-get download -qq "${sandbox[@]}" prometheus) || die "apt-get download prometheus failed"
  fi
  rm -rf "$CACHE/root.tmp"
  dpkg-deb -x "$(ls "$CACHE/debs"/prometheus_*.deb | head -n1)" "$CACHE/root.tmp"
  rm -rf "$CACHE/root" && mv "$CACHE/root.tmp" "$CACHE/root"
  say "unpacked $("$BIN/prometheus" --version 2>&1 | head -n1)"
  printf '%s\n' "$BIN"
}

PORT="" CONFIG="" DIR=""
parse_opts() {
  while (($# > 0)); do
    case "$1" in
      --port) PORT="$2"; shift 2 ;;
      --config) CONFIG="$2"; shift 2 ;;
      --dir) DIR="$2"; shift 2 ;;
      *) die "unknown option '$1'" ;;
    esac
  done
}

wait_ready() {
  local url="$1" pid="$2" deadline=$((SECONDS + 60))
  while ((SECONDS < deadline)); do
    kill -0 "$pid" 2>/dev/null || return 1
    node -e "fetch(process.argv[1]).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))" "$url/-/ready" && return 0
    sleep 0.3
  done
  return 1
}

cmd_start() {
  parse_opts "$@"
  [[ -n "$PORT" && -n "$CONFIG" && -n "$DIR" ]] || die "start needs --port, --config and --dir"
  cmd_install >/dev/null
  mkdir -p "$DIR/data"
  "$BIN/promtool" check config "$CONFIG" >"$DIR/check.log" 2>&1 || { cat "$DIR/check.log" >&2; die "invalid configuration $CONFIG"; }
  nohup "$BIN/prometheus" --config.file="$CONFIG" --storage.tsdb.path="$DIR/data" \
    --web.listen-address="127.0.0.1:$PORT" --web.enable-lifecycle --log.level=warn \
    </dev/null >"$DIR/prometheus.log" 2>&1 &
  local pid=$!
  printf '%s\n' "$pid" >"$DIR/prometheus.pid"
  if ! wait_ready "http://127.0.0.1:$PORT" "$pid"; then
    tail -n 30 "$DIR/prometheus.log" >&2
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$DIR/prometheus.pid"
    die "prometheus did not become ready on port $PORT"
  fi
  say "prometheus pid $pid ready on 127.0.0.1:$PORT"
  printf 'http://127.0.0.1:%s\n' "$PORT"
}

cmd_stop() {
  parse_opts "$@"
  [[ -n "$DIR" ]] || die "stop needs --dir"
  local pid
  pid="$(head -n1 "$DIR/prometheus.pid" 2>/dev/null || true)"
  if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && grep -q prometheus "/proc/$pid/cmdline" 2>/dev/null; then
    kill -TERM "$pid"
    local deadline=$((SECONDS + 10))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
    say "stopped prometheus pid $pid"
  fi
  rm -f "$DIR/prometheus.pid"
}

cmd_demo() {
  parse_opts "$@"
  PORT="${PORT:-9090}"
  cmd_install >/dev/null
  local dir="$CACHE/demo-data" targets="$ROOT/.cache/demo/prometheus-targets.json"
  mkdir -p "$dir" "$(dirname "$targets")"
  [[ -f "$targets" ]] || printf '[]\n' >"$targets"
  sed "s|@TARGETS@|$targets|" "$ROOT/infra/prometheus/prometheus.local.yml" >"$dir/prometheus.yml"
  say "Prometheus on http://127.0.0.1:$PORT, scraping the demo's processes (run 'npm run demo' beside it); Ctrl-C stops it"
  exec "$BIN/prometheus" --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
    --web.listen-address="127.0.0.1:$PORT" --log.level=warn
}

(($# > 0)) || { sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
command="$1"; shift
case "$command" in
  install) cmd_install ;;
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  promtool) cmd_install >/dev/null; exec "$BIN/promtool" "$@" ;;
  demo) cmd_demo "$@" ;;
  *) say "unknown subcommand '$command'"; exit 2 ;;
esac
