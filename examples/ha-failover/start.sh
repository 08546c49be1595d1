#!/usr/bin/env bash
# Starts the HA layout on loopback: one balancer (barkeep serve) and two
# backends (barkeep demo pub), each with its barkeep agent. Ctrl-C stops all:
# the agents drain their nodes first.
#
# Environment (all optional): BARKEEP (the binary, default: barkeep on PATH),
# PORT, ADMIN_PORT, MANAGER_PORT, NODE1_PORT, NODE2_PORT (8000, 8090, 6666,
# 9001, 9002), INTERVAL (the agents' STATUS period, default 2s),
# NODE_TIMEOUT (how long the balancer waits for a backend's answer, default
# 6s: longer than an agent takes to report a hung backend, two intervals, so
# a request waiting on a backend that hangs is withdrawn and sent to the other
# one rather than timed out), RUN_DIR (where pids and the generated
# configuration go, default ./run).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BARKEEP=${BARKEEP:-barkeep}
PORT=${PORT:-8000} ADMIN_PORT=${ADMIN_PORT:-8090} MANAGER_PORT=${MANAGER_PORT:-6666}
NODE1_PORT=${NODE1_PORT:-9001} NODE2_PORT=${NODE2_PORT:-9002}
INTERVAL=${INTERVAL:-2s} NODE_TIMEOUT=${NODE_TIMEOUT:-6s}
RUN_DIR=${RUN_DIR:-$here/run}
mkdir -p "$RUN_DIR"
command -v "$BARKEEP" >/dev/null || { echo "start.sh: $BARKEEP not found; set BARKEEP=/path/to/barkeep" >&2; exit 1; }

# What failover.sh needs to find the processes again.
cat >"$RUN_DIR/env" <<ENV
BARKEEP=$(command -v "$BARKEEP")
PORT=$PORT
NODE1_PORT=$NODE1_PORT
RUN_DIR=$RUN_DIR
ENV
sed -e "s/127.0.0.1:8000/127.0.0.1:$PORT/" -e "s/127.0.0.1:8090/127.0.0.1:$ADMIN_PORT/" \
	-e "s/127.0.0.1:6666/127.0.0.1:$MANAGER_PORT/" "$here/barkeep.yaml" >"$RUN_DIR/barkeep.yaml"

agents=() others=()
stop() {
	trap - INT TERM EXIT
	echo "== stopping: agents drain their nodes, then the backends and the balancer stop"
	kill -TERM "${agents[@]}" 2>/dev/null || true
	wait "${agents[@]}" 2>/dev/null || true
	kill -TERM "${others[@]}" $(cat "$RUN_DIR"/node*.pid 2>/dev/null) 2>/dev/null || true
	wait 2>/dev/null || true
}
trap stop INT TERM EXIT

"$BARKEEP" serve --config "$RUN_DIR/barkeep.yaml" > >(sed -u 's/^/[balancer] /') 2>&1 &
others+=($!)
for n in 1 2; do
	port_var=NODE${n}_PORT
	port=${!port_var}
	"$BARKEEP" demo pub --listen "127.0.0.1:$port" --route "node$n" > >(sed -u "s/^/[node$n] /") 2>&1 &
	echo $! >"$RUN_DIR/node$n.pid"
	"$BARKEEP" agent --proxy "127.0.0.1:$MANAGER_PORT" --route "node$n" --backend "http://127.0.0.1:$port" \
		--interval "$INTERVAL" --node-timeout "$NODE_TIMEOUT" --metric static:factor=50 > >(sed -u "s/^/[agent node$n] /") 2>&1 &
	agents+=($!)
done
echo "== started: client http://127.0.0.1:$PORT/  manager page http://127.0.0.1:$ADMIN_PORT/mod_cluster_manager"
echo "== in another terminal: $here/failover.sh     (Ctrl-C here stops everything)"
wait
