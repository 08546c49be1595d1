#!/usr/bin/env bash
# Runs barkeep as run.sh's "custom" peer, to compare variants side by side:
#   CUSTOM_CMD='env GOGC=400 bench/barkeep-custom.sh' bench/run.sh all haproxy barkeep custom
#   CUSTOM_CMD='bench/barkeep-custom.sh bench/peers/barkeep-log.yaml' bench/run.sh all barkeep custom
# It renders the template (default peers/barkeep.yaml) from the LISTEN,
# BACKEND1, BACKEND2 and RUN_DIR that run.sh sets, and execs the barkeep
# binary run.sh built (BIN_DIR, default /tmp/lbbench-bin).
set -euo pipefail
dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmpl=${1:-$dir/peers/barkeep.yaml}
cfg=$RUN_DIR/barkeep-custom.yaml
sed -e "s|@LISTEN@|$LISTEN|g" -e "s|@B1@|$BACKEND1|g" -e "s|@B2@|$BACKEND2|g" -e "s|@RUN@|$RUN_DIR|g" "$tmpl" >"$cfg"
exec "${BIN_DIR:-/tmp/lbbench-bin}/barkeep" serve --config "$cfg"
