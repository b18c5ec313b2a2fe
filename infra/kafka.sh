#!/usr/bin/env bash
# blindear's own Kafka: a real single-node KRaft broker from Maven Central jars (DESIGN.md section 4).
#
#   bash infra/kafka.sh install                          copy the broker jars into .cache/kafka/libs
#   bash infra/kafka.sh start  [--port P] [--dir D] [--fresh] [--sasl]
#                                                        broker on 127.0.0.1:P; prints the bootstrap address
#   bash infra/kafka.sh stop   [--port P] [--dir D]      SIGTERM, up to 20 s, then SIGKILL; ok if not running
#   bash infra/kafka.sh status [--port P] [--dir D]      exit 0 and one line if running and answering, else 3
#
# Port: --port, else $BLINDEAR_KAFKA_PORT, else 9092. Data dir: --dir, else var/kafka-<port> (repo-relative).
# `start` on a data dir that already holds a cluster (data/meta.properties) restarts that cluster: topics,
# offsets and session keys survive; only an absent or empty dir is formatted (--fresh wipes a dir this
# script made first). --sasl: clients must authenticate with SASL/SCRAM-SHA-512 and are authorised by
# ACLs (KRaft's StandardAuthorizer); users admin (super user), server and client are created at format
# with random passwords, written to <dir>/credentials (user:password per line, mode 600).
# Stdout carries data only (the bootstrap address, the status line); progress and errors go to stderr.
# Env: JAVA_HOME (java to use), BLINDEAR_KAFKA_START_TIMEOUT_MS (readiness deadline, default 90000).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
INFRA="$ROOT/infra/kafka"
CACHE="$ROOT/.cache/kafka"
LIBS="$CACHE/libs"
MARKER="$LIBS/.installed"
DIR_MARKER=".blindear-kafka"
DEPENDENCY_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.6.1"
STOP_WAIT_S=20

say() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

java_bin() {
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
    printf '%s\n' "$JAVA_HOME/bin/java"
  elif command -v java >/dev/null 2>&1; then
    command -v java
  else
    die "java not found: Kafka 4.x needs Java 17 or newer (Debian: apt-get install openjdk-17-jre-headless)"
  fi
}

check_java() {
  local java version major
  java="$(java_bin)"
  version="$("$java" -version 2>&1 | sed -n 's/.* version "\([^"]*\)".*/\1/p' | head -n1)"
  major="${version%%.*}"
  [[ "$major" =~ ^[0-9]+$ ]] || die "could not read the version of $java (got '${version}')"
  ((major >= 17)) || die "$java is Java $version; Kafka 4.x needs Java 17 or newer"
}

# The marker holds a digest of the pom: editing the pom (another Kafka version) forces a new install.
pom_digest() { sha256sum "$INFRA/pom.xml" | cut -d' ' -f1; }

installed() {
  [[ -f "$MARKER" ]] && [[ "$(head -n1 "$MARKER")" == "$(pom_digest)" ]] || return 1
  # Every jar the marker lists must still be there.
  local jar
  while IFS= read -r jar; do
    [[ -f "$LIBS/$jar" ]] || return 1
  done < <(tail -n +2 "$MARKER")
}

cmd_install() {
  mkdir -p "$CACHE"
  # Two starts racing on a fresh clone must not both download into the same folder.
  exec 9>"$CACHE/install.lock"
  flock 9
  if installed; then
    say "jars already in ${LIBS#"$ROOT"/} ($(($(wc -l <"$MARKER") - 1)) jars)"
    exec 9>&-
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || die "mvn not found: install Maven 3 (Debian: apt-get install maven)"
  check_java
  local tmp="$CACHE/libs.tmp.$$"
  rm -rf "$tmp"
  say "copying Kafka jars from Maven Central into ${LIBS#"$ROOT"/} ..."
  if ! mvn -B -q -Dstyle.color=never -f "$INFRA/pom.xml" "$DEPENDENCY_PLUGIN:copy-dependencies" \
      -DincludeScope=runtime -DoutputDirectory="$tmp" >&2; then
    rm -rf "$tmp"
    die "maven could not fetch the broker jars (see its output above; is Maven Central reachable?)"
  fi
  local jars
  jars="$(cd "$tmp" && ls -1 -- *.jar 2>/dev/null || true)"
  if ! grep -q '^kafka_2\.13-.*\.jar$' <<<"$jars" || ! grep -q '^log4j-core-.*\.jar$' <<<"$jars"; then
    rm -rf "$tmp"
    die "maven finished but the kafka_2.13 or log4j-core jar is missing from its output"
  fi
  { pom_digest; printf '%s\n' "$jars"; } >"$tmp/.installed"
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
  rm -rf "$INFRA/target"
  say "installed $(wc -l <<<"$jars") jars ($(du -sh "$LIBS" | cut -f1)) into ${LIBS#"$ROOT"/}"
  exec 9>&-
}

# ---------- options shared by start, stop and status ----------

PORT=""
DIR=""
FRESH=0
SASL=0

parse_opts() {
  while (($# > 0)); do
    case "$1" in
      --fresh) FRESH=1; shift ;;
      --sasl) SASL=1; shift ;;
      --port) (($# >= 2)) || die "--port needs a value"; PORT="$2"; shift 2 ;;
      --port=*) PORT="${1#--port=}"; shift ;;
      --dir) (($# >= 2)) || die "--dir needs a value"; DIR="$2"; shift 2 ;;
      --dir=*) DIR="${1#--dir=}"; shift ;;
      *) die "unknown option '$1' (expected --port P, --dir D, --fresh or --sasl)" ;;
    esac
  done
  PORT="${PORT:-${BLINDEAR_KAFKA_PORT:-9092}}"
  [[ "$PORT" =~ ^[0-9]+$ ]] && ((PORT >= 1 && PORT <= 65535)) || die "port must be 1..65535, got '$PORT'"
  if [[ -z "$DIR" ]]; then
    DIR="$ROOT/var/kafka-$PORT"
  fi
  # One spelling per folder (stop and status match the broker's command line against it).
  DIR="$(realpath -m -- "$DIR")"
  PID_FILE="$DIR/kafka.pid"
}

# A TCP connect from bash: true when something listens on 127.0.0.1:$1.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
  node -e '
    const s = require("node:net").createServer();
    s.listen(0, "127.0.0.1", () => { process.stdout.write(String(s.address().port)); s.close(); });'
}

# Pid of the broker recorded in $PID_FILE if that process is alive and still our broker, else nothing.
running_pid() {
  [[ -f "$PID_FILE" ]] || return 0
  local pid
  pid="$(head -n1 "$PID_FILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  # Guard against a recycled pid: the process must be kafka.Kafka started on this data dir.
  if [[ -r "/proc/$pid/cmdline" ]]; then
    local cmdline
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline")"
    [[ "$cmdline" == *kafka.Kafka*"$DIR/server.properties"* ]] || return 0
  fi
  printf '%s\n' "$pid"
}

log_tail() {
  local f
  for f in "$DIR/format.log" "$DIR/broker.log" "$DIR/console.log"; do
    if [[ -s "$f" ]]; then
      printf -- '--- last lines of %s ---\n' "$f" >&2
      tail -n 40 "$f" >&2
    fi
  done
}

render_properties() {
  local controller_port="$1" text
  text="$(<"$INFRA/server.properties.template")"
  shopt -u patsub_replacement 2>/dev/null || true # bash 5.2 would expand '&' in the replacements
  text="${text//@PORT@/$PORT}"
  text="${text//@CONTROLLER_PORT@/$controller_port}"
  text="${text//@DATA_DIR@/$DIR/data}"
  if ((SASL)); then
    # Clients authenticate (SCRAM-SHA-512) on the one client listener; the controller listener stays
    # PLAINTEXT on loopback, and its principal (ANONYMOUS) is a super user so the broker can register.
    local admin_pw
    admin_pw="$(sed -n 's/^admin://p' "$DIR/credentials")"
    text="$(sed -e "s#^listeners=PLAINTEXT://#listeners=SASL_PLAINTEXT://#" \
      -e "s#^advertised.listeners=PLAINTEXT://#advertised.listeners=SASL_PLAINTEXT://#" \
      -e "s#^inter.broker.listener.name=PLAINTEXT#inter.broker.listener.name=SASL_PLAINTEXT#" \
      -e "s#^listener.security.protocol.map=.*#listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT#" <<<"$text")"
    text+=$'\n\n# --- SASL/SCRAM and ACLs (kafka.sh --sasl) ---\n'
    text+=$'sasl.enabled.mechanisms=SCRAM-SHA-512\nsasl.mechanism.inter.broker.protocol=SCRAM-SHA-512\n'
    text+="listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"$admin_pw\";"$'\n'
    text+=$'authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n'
    text+=$'super.users=User:admin;User:ANONYMOUS\nallow.everyone.if.no.acl.found=false\n'
  fi
  printf '%s\n' "$text" >"$DIR/server.properties"
}

# admin:password for the readiness check of a --sasl broker, else nothing.
ready_scram() { if [[ -f "$DIR/credentials" ]] && grep -q '^sasl.enabled.mechanisms=' "$DIR/server.properties" 2>/dev/null; then grep '^admin:' "$DIR/credentials"; fi; }

random_password() { head -c 18 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'; }

# Kafka's Uuid: 16 random bytes, URL-safe base64 without padding, not starting with '-'.
# Drawn here instead of `StorageTool random-uuid` to save one JVM start.
cluster_id() {
  local id
  while :; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    [[ "$id" != -* && ${#id} -eq 22 ]] && break
  done
  printf '%s\n' "$id"
}

cmd_start() {
  parse_opts "$@"
  local started_at=$SECONDS
  [[ -z "$(running_pid)" ]] || die "a broker is already running from $DIR (pid $(running_pid)); run: bash infra/kafka.sh stop --port $PORT --dir $DIR"
  port_busy "$PORT" && die "port $PORT on 127.0.0.1 is already in use"
  command -v node >/dev/null 2>&1 || die "node not found: the readiness check runs infra/kafka-ready.mjs"
  [[ -d "$ROOT/node_modules/kafkajs" ]] || die "kafkajs is not installed: run npm ci in $ROOT first"
  installed || cmd_install
  check_java

  local controller_port=$((PORT + 1))
  if ((controller_port > 65535)) || port_busy "$controller_port"; then
    controller_port="$(free_port)"
  fi

  # An existing cluster is restarted as it is: formatting over it would lose every topic, offset and
  # session key. Only an absent or empty folder is formatted; --fresh wipes a folder this script made.
  local existing=0
  if [[ -e "$DIR" ]]; then
    [[ -d "$DIR" ]] || die "$DIR exists and is not a directory"
    if [[ -n "$(ls -A "$DIR")" && ! -f "$DIR/$DIR_MARKER" ]]; then
      die "$DIR is not empty and was not made by kafka.sh; refusing to use it"
    fi
    if ((FRESH)); then
      rm -rf "$DIR"
    elif [[ -f "$DIR/data/meta.properties" ]]; then
      existing=1
    elif [[ -d "$DIR/data" && -n "$(ls -A "$DIR/data")" ]]; then
      die "$DIR/data holds files but no meta.properties: not formatting over it (use --fresh to wipe it)"
    fi
  fi
  mkdir -p "$DIR/data"
  : >"$DIR/$DIR_MARKER"
  if ((existing)) && [[ -f "$DIR/server.properties" ]]; then
    # Same controller port as before when it is still free (the quorum's address).
    local previous
    previous="$(sed -n 's/^controller.quorum.voters=1@127.0.0.1://p' "$DIR/server.properties")"
    if [[ "$previous" =~ ^[0-9]+$ ]] && ! port_busy "$previous" && ((previous != PORT)); then controller_port="$previous"; fi
    if grep -q '^sasl.enabled.mechanisms=' "$DIR/server.properties"; then SASL=1; fi
  fi
  if ((SASL)) && [[ ! -f "$DIR/credentials" ]]; then
    ((existing == 0)) || die "$DIR holds a cluster made without --sasl: SCRAM users are created at format; use --fresh"
    (umask 077; printf 'admin:%s\nserver:%s\nclient:%s\n' "$(random_password)" "$(random_password)" "$(random_password)" >"$DIR/credentials")
  fi
  render_properties "$controller_port"

  local java cp
  java="$(java_bin)"
  cp="$LIBS/*"
  if ((existing)); then
    say "restarting the cluster already in $DIR (topics, offsets and keys kept)"
  else
    local scram=()
    if ((SASL)); then
      local user pw
      while IFS=: read -r user pw; do
        scram+=(--add-scram "SCRAM-SHA-512=[name=$user,password=$pw]")
      done <"$DIR/credentials"
    fi
    # A short-lived tool: C1 only and the serial GC shave a little off its JVM start.
    if ! "$java" -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp "$cp" kafka.tools.StorageTool format \
        -t "$(cluster_id)" -c "$DIR/server.properties" "${scram[@]}" >"$DIR/format.log" 2>&1; then
      log_tail
      die "formatting the storage in $DIR failed"
    fi
  fi

  nohup "$java" -Xms256m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$INFRA/log4j2.properties" -Dkafka.logs.dir="$DIR" \
    -cp "$cp" kafka.Kafka "$DIR/server.properties" \
    </dev/null >"$DIR/console.log" 2>&1 &
  local pid=$!
  printf '%s\n' "$pid" >"$PID_FILE"

  local timeout_ms="${BLINDEAR_KAFKA_START_TIMEOUT_MS:-90000}"
  if ! KAFKA_READY_SCRAM="$(ready_scram)" node "$ROOT/infra/kafka-ready.mjs" "127.0.0.1:$PORT" "$timeout_ms" --pid "$pid"; then
    log_tail
    { kill -KILL "$pid" && wait "$pid"; } 2>/dev/null || true
    rm -f "$PID_FILE"
    die "the broker on port $PORT did not answer within $timeout_ms ms (killed it; data dir $DIR kept)"
  fi
  say "broker pid $pid ready on 127.0.0.1:$PORT (controller $controller_port) in $((SECONDS - started_at)) s; data in $DIR"
  printf '127.0.0.1:%s\n' "$PORT"
}

cmd_stop() {
  parse_opts "$@"
  local pid
  pid="$(running_pid)"
  if [[ -z "$pid" ]]; then
    rm -f "$PID_FILE"
    say "no broker running from $DIR"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_WAIT_S))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "broker pid $pid still up after ${STOP_WAIT_S} s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$PID_FILE"
  say "stopped broker pid $pid (port $PORT)"
}

cmd_status() {
  parse_opts "$@"
  local pid
  pid="$(running_pid)"
  if [[ -z "$pid" ]]; then
    printf 'stopped port=%s dir=%s\n' "$PORT" "$DIR"
    return 3
  fi
  if ! KAFKA_READY_SCRAM="$(ready_scram)" node "$ROOT/infra/kafka-ready.mjs" "127.0.0.1:$PORT" 5000 --pid "$pid" 2>/dev/null; then
    printf 'unresponsive pid=%s bootstrap=127.0.0.1:%s dir=%s\n' "$pid" "$PORT" "$DIR"
    return 1
  fi
  printf 'running pid=%s bootstrap=127.0.0.1:%s dir=%s\n' "$pid" "$PORT" "$DIR"
}

usage() {
  sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

(($# > 0)) || usage
command="$1"
shift
case "$command" in
  install) (($# == 0)) || die "install takes no options"; cmd_install ;;
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  status) cmd_status "$@" ;;
  -h | --help | help) usage ;;
  *) say "unknown subcommand '$command'"; usage ;;
esac
