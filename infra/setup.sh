#!/usr/bin/env bash
# Everything the tests and the demo need beyond `npm ci`: the Kafka jars (Maven Central), the `ci`
# music set and the never-enrolled `negatives` set (the evaluation harness's unknown songs and babble).
# Idempotent and quick when already done. Each missing prerequisite is named in one line.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
missing=0
need() { command -v "$1" >/dev/null 2>&1 || { echo "setup: $1 not found: $2" >&2; missing=1; }; }
need node "Node.js 20+ runs blindear (https://nodejs.org or Debian's nodejs)"
need java "Kafka 4.x needs Java 17+ (Debian: apt-get install openjdk-17-jre-headless)"
need mvn "Maven fetches the Kafka jars from Maven Central (Debian: apt-get install maven)"
need python3 "python3 fetches the music (Debian: apt-get install python3)"
need apt-get "the music comes from Debian packages (a Debian or Ubuntu machine)"
need dpkg-deb "the music comes from Debian packages (Debian: dpkg)"
if command -v node >/dev/null 2>&1; then
  major=$(node -p 'process.versions.node.split(".")[0]')
  ((major >= 20)) || { echo "setup: node $(node --version) is too old: blindear needs Node.js 20+" >&2; missing=1; }
fi
if command -v java >/dev/null 2>&1; then
  jv=$(java -version 2>&1 | sed -n 's/.* version "\([0-9]*\).*/\1/p' | head -n1)
  [[ "$jv" =~ ^[0-9]+$ ]] && ((jv >= 17)) || { echo "setup: java ${jv:-?} is too old: Kafka 4.x needs Java 17+" >&2; missing=1; }
fi
[[ -d "$root/node_modules" ]] || { echo "setup: node_modules missing: run 'npm ci' first" >&2; missing=1; }
((missing == 0)) || exit 1
bash "$root/infra/kafka.sh" install
bash "$root/infra/music.sh" ci
bash "$root/infra/music.sh" negatives
# Prometheus and promtool (Debian package, unpacked into .cache/prometheus) for the operators' tests.
bash "$root/infra/prometheus.sh" install >/dev/null
