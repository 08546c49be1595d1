#!/usr/bin/env bash
# Runs a client loop against the balancer of start.sh while node1's backend
# first hangs (SIGSTOP: the kernel still accepts connections, nothing
# answers), is then killed, and finally starts again. Every request should
# be answered (200), by node2 while node1 is away, by both after it is back.
#
# Environment: RUN_DIR as for start.sh (default ./run); PHASE, the seconds
# each step is watched (default 8). The client lines are in $RUN_DIR/client.log.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
RUN_DIR=${RUN_DIR:-$here/run}
PHASE=${PHASE:-8}
# shellcheck source=/dev/null
. "$RUN_DIR/env"
command -v curl >/dev/null || { echo "failover.sh needs curl (apt-get install curl)" >&2; exit 1; }
node1=$(cat "$RUN_DIR/node1.pid")

client() {
	while :; do
		out=$(curl -s -m 10 -w ' %{http_code}' "http://127.0.0.1:$PORT/" || true)
		code=${out##* }
		route=$(sed -n 's/.*(route \([^)]*\)).*/\1/p' <<<"$out")
		echo "$(date +%T.%3N) $code ${route:--}"
		sleep 0.2
	done
}

# The client's lines and the steps go to client.log (appending), shown
# here as they come.
log=$RUN_DIR/client.log
: >"$log"
mark() { echo "== $*" >>"$log"; }
client >>"$log" &
client_pid=$!
tail -n +1 -f "$log" &
tail_pid=$!
trap 'kill $client_pid $tail_pid 2>/dev/null || true' EXIT

mark "both nodes answer"
sleep "$PHASE"
mark "node1 hangs (SIGSTOP pid $node1): its agent reports Load -1 within an interval or two"
kill -STOP "$node1"
sleep $((2 * PHASE))
mark "node1 is killed"
kill -KILL "$node1"
sleep "$PHASE"
mark "node1 starts again: its agent reports it up at the next interval"
"$BARKEEP" demo pub --listen "127.0.0.1:$NODE1_PORT" --route node1 >/dev/null 2>&1 &
echo $! >"$RUN_DIR/node1.pid"
# The balancer takes node1 back once its agent reports it up and its own
# health check of the node passes again (every 10 s): wait for that, at
# most 30 s, then watch both answer.
seen=$(wc -l <"$log")
for _ in $(seq 60); do
	tail -n +"$((seen + 1))" "$log" | grep -q ' 200 node1$' && break
	sleep 0.5
done
mark "node1 is back"
sleep "$PHASE"
kill "$client_pid"
wait "$client_pid" 2>/dev/null || true
sleep 0.5
kill "$tail_pid" 2>/dev/null || true
total=$(grep -vc '^==' "$log" || true)
ok=$(grep -c ' 200 ' "$log" || true)
echo "== done: $total requests, $ok answered 200, $((total - ok)) not"
