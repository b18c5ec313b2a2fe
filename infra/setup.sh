#!/usr/bin/env bash
# Everything the tests and the demo need beyond `npm ci`: the Kafka jars (Maven Central), the `ci`
# music set and the never-enrolled `negatives` set (the evaluation harness's unknown songs and babble). Idempotent and quick when already done; fails loudly otherwise.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
command -v java >/dev/null || { echo "setup: java (17+) is required to run Kafka" >&2; exit 1; }
command -v mvn >/dev/null || { echo "setup: maven is required to fetch the Kafka jars" >&2; exit 1; }
[[ -d "$root/node_modules" ]] || { echo "setup: run 'npm ci' first" >&2; exit 1; }
bash "$root/infra/kafka.sh" install
bash "$root/infra/music.sh" ci
bash "$root/infra/music.sh" negatives
