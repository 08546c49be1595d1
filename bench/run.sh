#!/usr/bin/env bash
# Load-balancer benchmark harness: 2 Go backends + one proxy + wrk, all on
# 127.0.0.1, bounded in time. Every process it starts is tracked by PID and
# ended by PID (never by name).
#
# Usage:
#   bench/run.sh PEER                  one throughput run, one result line
#   bench/run.sh custom 'CMD'          same, for your own proxy (see CUSTOM below)
#   bench/run.sh all [PEER...]         interleaved rounds A B C A B C ... ($ROUNDS),
#                                      then medians and ratios vs haproxy
#   bench/run.sh sticky [PEER...]      sticky-session scenario (default: haproxy httpd)
#   bench/run.sh failover [PEER...]    backend node2 SIGKILLed at $KILL_AT s into the
#                                      measured run (default: haproxy nginx httpd caddy caddy-hc)
#   bench/run.sh summary FILE.tsv      re-print medians/ratios from a results file
#
# PEER: barkeep | barkeep-log | barkeep-big | goproxy | fasthttp-floor | haproxy | nginx | httpd |
#   caddy | caddy-hc | direct | custom | h1proto-transport | h1proto-loop |
#   h1proto-floor (measurement prototypes, see examples/h1proto/main.go)
#   (any peers/<name>.{cfg,conf,Caddyfile} whose name starts with one of the
#    proxy names works too). direct = wrk straight to backend node1 (ceiling).
#
# CUSTOM: the command is run as `bash -c "exec CMD"` pinned like the other
#   proxies, with these variables in its environment:
#     LISTEN=127.0.0.1:27080  BACKEND1=127.0.0.1:27081  BACKEND2=127.0.0.1:27082
#     BACKENDS=127.0.0.1:27081,127.0.0.1:27082  ROUTES=node1,node2
#     STICKY=0|1 (1 in the sticky scenario)  RUN_DIR=<scratch dir for this run>
#   e.g. bench/run.sh custom './lb -listen $LISTEN -backends $BACKENDS'
#   In `all`/`failover`/`sticky`, set CUSTOM_CMD='...' and name `custom` among
#   the peers (in `all` it is added automatically when CUSTOM_CMD is set).
#
# Knobs (environment): DURATION=10 WARMUP=2 CONNS=64 THREADS=2 SIZE=100 (body
#   bytes) ROUNDS=3 PORT_BASE=27080 PIN=1 PROXY_CPUS=0 LOAD_CPUS=1 BACKEND_CPUS=1
#   KILL_AT=3 RESTART_AT= (failover: restart node2 at that second) WRK_TIMEOUT=2s
#   FAIL_MODE=kill (failover: SIGKILL node2) | hang | 5xx | close | slow (switch
#   node2 into that mode through its admin endpoint instead; RESTART_AT then
#   switches it back to ok) SLOW_DELAY=500ms (for slow)
#   NOISE_MAX=30 NOISE_RETRIES=2: a run during which others used more than
#   NOISE_MAX% of the machine is marked noisy=1, repeated, and left out of medians
#   NICE=0: nice level for everything the harness starts (e.g. -5 on a shared
#   box to lose less to others' load; it takes CPU from them, so 0 by default)
#   QUIET_MAX=15 QUIET_WAIT=30: before each run wait up to QUIET_WAIT s for the
#   machine to be at most QUIET_MAX% busy (other users' load), then go on anyway
#   OUTDIR=/tmp/lbbench/<timestamp> (raw wrk output, rendered configs, logs,
#   results.tsv) PEERS="..." (default peer list for `all`)
#
# Pinning (PIN=1, default): proxy on cpu0; wrk and both backends on cpu1.
#   The proxy gets a core of its own, so its CPU time per request is measured
#   without the load generator in the way; one worker/thread per proxy
#   (Go programs see one CPU through the affinity mask -> GOMAXPROCS=1).
#   For `direct`, backend node1 takes the proxy's core. PIN=0 lets everything
#   float over both cores.

set -uo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PEERS_DIR=$BENCH_DIR/peers
LUA_DIR=$BENCH_DIR/lua

: "${DURATION:=10}" "${WARMUP:=2}" "${CONNS:=64}" "${THREADS:=2}" "${SIZE:=100}"
: "${PIN:=1}" "${PROXY_CPUS:=0}" "${LOAD_CPUS:=1}" "${BACKEND_CPUS:=1}"
: "${PORT_BASE:=27080}" "${ROUNDS:=3}" "${KILL_AT:=3}" "${RESTART_AT:=}"
: "${WRK_TIMEOUT:=2s}" "${CUSTOM_CMD:=}" "${QUIET_MAX:=15}" "${QUIET_WAIT:=30}"
: "${NOISE_MAX:=30}" "${NOISE_RETRIES:=2}" "${NICE:=0}" "${FAIL_MODE:=kill}" "${SLOW_DELAY:=500ms}"
: "${OUTDIR:=${TMPDIR:-/tmp}/lbbench/$(date +%Y%m%d-%H%M%S)-$$}"
: "${PEERS:=direct haproxy nginx httpd caddy goproxy barkeep}"
BIN_DIR=${BIN_DIR:-/tmp/lbbench-bin}

HOST=127.0.0.1
LISTEN_PORT=$PORT_BASE
LISTEN=$HOST:$PORT_BASE
B1=$HOST:$((PORT_BASE + 1))
B2=$HOST:$((PORT_BASE + 2))
HZ=$(getconf CLK_TCK)
RESULTS=$OUTDIR/results.tsv
COLS="scenario round peer size conns pre_busy rps p50_ms p99_ms reqs non2xx sockerr proxy_cpu_s proxy_cpu_pct cpu_s_per_100k rss_mb be_cpu_s wrk_cpu_s cpu0_pct cpu1_pct steal_pct other_pct misrouted_pct jar_sticky fail_pct node2_after timeline noisy batch"

STARTED_PIDS=()
RUN_IDX=0
BATCH=$(date +%Y%m%d%H%M%S)-$$

die() { echo "run.sh: $*" >&2; exit 1; }
log() { echo "# $*" >&2; }

# ---------------------------------------------------------------- processes
pin() { # pin CPUS CMD... : exec CMD pinned (taskset/nice exec, so $! is CMD's pid)
	local cpus=$1; shift
	[[ $NICE != 0 ]] && set -- nice -n "$NICE" "$@"
	if [[ $PIN == 1 && -n $cpus ]]; then exec taskset -c "$cpus" "$@"; else exec "$@"; fi
}

descendants() { # pid and all of its descendants, one per line
	ps -e -o pid=,ppid= | awk -v r="$1" '
		{ par[$1] = $2 }
		END { inset[r] = 1; print r; ch = 1
		      while (ch) { ch = 0; for (p in par) if (!(p in inset) && (par[p] in inset)) { inset[p] = 1; print p; ch = 1 } } }'
}

alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }

stop_pid() { # stop_pid PID: TERM the process, wait up to 3 s, then KILL it and its descendants
	local pid=$1 i tree
	alive "$pid" || return 0
	tree=$(descendants "$pid")
	kill -TERM "$pid" 2>/dev/null
	for i in $(seq 1 30); do alive "$pid" || break; sleep 0.1; done
	for p in $tree; do alive "$p" && kill -KILL "$p" 2>/dev/null; done
	wait "$pid" 2>/dev/null
	return 0
}

cleanup() {
	local p
	for p in "${STARTED_PIDS[@]}"; do stop_pid "$p"; done
	STARTED_PIDS=()
}
trap 'cleanup' EXIT
trap 'cleanup; exit 130' INT TERM

port_free() { [[ -z $(ss -Hltn "sport = :$1" 2>/dev/null) ]]; }

wait_http() { # wait_http URL SECONDS
	local url=$1 t=$2 i
	for i in $(seq 1 $((t * 10))); do
		curl -s -o /dev/null -m 1 -f "$url" && return 0
		sleep 0.1
	done
	return 1
}

# ---------------------------------------------------------------- measuring
cpu_ticks() { # summed utime+stime+cutime+cstime of the given pids
	local p
	for p in "$@"; do sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null; done |
		awk '{ s += $12 + $13 + $14 + $15 } END { print s + 0 }'
}
tree_ticks() { local p; cpu_ticks $(for p in "$@"; do alive "$p" && descendants "$p"; done); }
tree_rss_kb() { # summed peak RSS (VmHWM) over the trees
	local p q
	for p in "$@"; do alive "$p" || continue; for q in $(descendants "$p"); do
		awk '/^VmHWM:/ { print $2 }' "/proc/$q/status" 2>/dev/null; done; done | awk '{ s += $1 } END { print s + 0 }'
}
stat_snap() { # "cpu0_busy cpu0_total cpu1_busy cpu1_total all_busy all_total steal"
	awk '/^cpu[0-9]* / { tot = 0; for (i = 2; i <= NF; i++) tot += $i; busy = tot - $5 - $6
	                   if ($1 == "cpu") { ab = busy; at = tot; st = $9 } else { b[$1] = busy; t[$1] = tot } }
	     END { printf "%d %d %d %d %d %d %d\n", b["cpu0"], t["cpu0"], b["cpu1"], t["cpu1"], ab, at, st }' /proc/stat
}
backend_stats() { curl -s -m 2 "http://$1/__admin/stats"; }
jget() { sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" <<<"$1"; }

parse_wrk() { # -> "rps p50 p99 reqs non2xx sockerr"
	awk '
	function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /m$/) return v * 60000; if (v ~ /s$/) return v * 1000; return v + 0 }
	/ requests in / { reqs = $1 }
	/^Requests\/sec:/ { rps = $2 }
	/Non-2xx or 3xx responses:/ { non = $NF }
	/Socket errors:/ { gsub(",", ""); se = $4 + $6 + $8 + $10 }
	/^ +50% / { p50 = ms($2) }
	/^ +99% / { p99 = ms($2) }
	END { printf "%.0f %.3f %.3f %d %d %d\n", rps, p50, p99, reqs, non, se }' "$1"
}
wrk_cpu_s() { # from `times` output: second line = children user sys
	awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%.2f\n", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$1"
}

quiet_gate() { # wait (up to QUIET_WAIT s) until the machine is idle enough: busy% over 1 s <= QUIET_MAX
	local waited=0 a b busy
	while :; do
		a=$(stat_snap); sleep 1; b=$(stat_snap)
		busy=$(awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " "); t = y[6] - x[6]; printf "%.0f", (t > 0 ? 100 * (y[5] - x[5]) / t : 0) }')
		if [[ $busy -le $QUIET_MAX || $waited -ge $QUIET_WAIT ]]; then
			[[ $busy -gt $QUIET_MAX ]] && log "machine still ${busy}% busy before the run (others' load); going on"
			PRE_BUSY=$busy
			return 0
		fi
		waited=$((waited + 1))
	done
}

# ---------------------------------------------------------------- peers
build_backend() {
	mkdir -p "$BIN_DIR"
	(cd "$BENCH_DIR/backend" && go build -o "$BIN_DIR/backend" .) || die "backend build failed"
	(cd "$BENCH_DIR/examples/goproxy" && go build -o "$BIN_DIR/goproxy" .) || die "goproxy build failed"
	(cd "$BENCH_DIR/examples/fasthttp-floor" && go build -o "$BIN_DIR/fasthttp-floor" .) || die "fasthttp-floor build failed"
	(cd "$BENCH_DIR/examples/h1proto" && go build -o "$BIN_DIR/h1proto" .) || die "h1proto build failed"
	(cd "$BENCH_DIR/.." && go build -o "$BIN_DIR/barkeep" ./cmd/barkeep) || die "barkeep build failed"
}

# big_registry RUN: the spare members and the MCMP persist file of barkeep-big:
# 998 spare members in lbset 1, 1,000 nodes with 10 contexts each.
big_registry() {
	awk 'BEGIN { for (i = 0; i < 998; i++) printf "      - {url: \"http://127.0.0.%d:%d\", route: spare%d, lbset: 1}\n", 2 + int(i / 500), 30000 + i % 500, i }' >"$1/spares.yaml"
	awk 'BEGIN {
		printf "{\"balancers\": [{\"name\": \"mycluster\", \"id\": 0, \"sticky\": true, \"cookie\": \"JSESSIONID\", \"path\": \"jsessionid\", \"force\": false, \"max_attempts\": 1}],\n\"nodes\": ["
		for (n = 0; n < 1000; n++) {
			printf "%s{\"id\": %d, \"jvmroute\": \"node%d\", \"balancer\": \"mycluster\", \"type\": \"http\", \"host\": \"127.0.%d.%d\", \"port\": \"9\", \"ttl\": 60000000000, \"smax\": -1,", (n ? "," : ""), n, n, 3 + int(n / 250), 1 + n % 250
			printf " \"hosts\": [{\"ID\": %d, \"Vhost\": 1, \"Alias\": \"localhost\"}], \"contexts\": [", n
			for (c = 0; c < 10; c++) printf "%s{\"id\": %d, \"vhost\": 1, \"path\": \"/app%d/ctx%d\", \"state\": 1}", (c ? "," : ""), n * 10 + c, n, c
			printf "]}\n"
		}
		printf "]}\n" }' >"$1/mcmp.json"
}

peer_config() { # peer -> template path
	local peer=$1 f
	for f in "$PEERS_DIR/$peer.cfg" "$PEERS_DIR/$peer.conf" "$PEERS_DIR/$peer.Caddyfile" "$PEERS_DIR/$peer.yaml"; do
		[[ -f $f ]] && { echo "$f"; return 0; }
	done
	return 1
}

render() { # render TEMPLATE OUT
	sed -e "s|@LISTEN@|$LISTEN|g" -e "s|@LISTEN_PORT@|$LISTEN_PORT|g" -e "s|@LISTEN_HOST@|$HOST|g" \
		-e "s|@B1@|$B1|g" -e "s|@B2@|$B2|g" -e "s|@RUN@|$RUN|g" "$1" >"$2"
	if grep -q @SPARES@ "$2"; then
		big_registry "$RUN"
		sed -i -e "/@SPARES@/r $RUN/spares.yaml" -e "/@SPARES@/d" "$2"
	fi
}

start_backend() { # start_backend NAME ADDR ROUTE CPUS -> sets BE_PID (a child of this shell)
	(pin "$4" "$BIN_DIR/backend" -addr "$2" -route "$3" -size "$SIZE" >>"$RUN/$1.log" 2>&1) &
	BE_PID=$!
	STARTED_PIDS+=("$BE_PID")
}

start_peer() { # start_peer PEER STICKY -> sets PEER_PID
	local peer=$1 sticky=$2 tmpl cfg kind
	PEER_PID=
	if [[ $peer == goproxy || $peer == fasthttp-floor ]]; then
		(export LISTEN BACKENDS=$B1,$B2; pin "$PROXY_CPUS" "$BIN_DIR/$peer" >"$RUN/$peer.log" 2>&1) &
		PEER_PID=$!
		return 0
	fi
	if [[ $peer == h1proto-* ]]; then
		(export LISTEN BACKENDS=$B1,$B2; pin "$PROXY_CPUS" "$BIN_DIR/h1proto" "${peer#h1proto-}" >"$RUN/$peer.log" 2>&1) &
		PEER_PID=$!
		return 0
	fi
	if [[ $peer == custom ]]; then
		[[ -n $CUSTOM_CMD ]] || die "custom needs CUSTOM_CMD (or: run.sh custom 'CMD')"
		echo "$CUSTOM_CMD" >"$RUN/custom.cmd"
		(export LISTEN BACKEND1=$B1 BACKEND2=$B2 BACKENDS=$B1,$B2 ROUTES=node1,node2 STICKY=$sticky RUN_DIR=$RUN
		 pin "$PROXY_CPUS" bash -c "exec $CUSTOM_CMD" >"$RUN/custom.log" 2>&1) &
		PEER_PID=$!
		return 0
	fi
	tmpl=$(peer_config "$peer") || die "no config for peer '$peer' in $PEERS_DIR"
	cfg=$RUN/$(basename "$tmpl")
	render "$tmpl" "$cfg"
	kind=${peer%%-*}
	case $kind in
	haproxy)
		haproxy -c -q -f "$cfg" >"$RUN/haproxy.check" 2>&1 || { cat "$RUN/haproxy.check" >&2; die "haproxy config check failed"; }
		(pin "$PROXY_CPUS" haproxy -db -f "$cfg" >"$RUN/haproxy.log" 2>&1) & ;;
	nginx)
		mkdir -p "$RUN/logs"
		(pin "$PROXY_CPUS" nginx -p "$RUN" -c "$cfg" -e "$RUN/nginx-error.log" >"$RUN/nginx.log" 2>&1) & ;;
	httpd)
		(pin "$PROXY_CPUS" apache2 -d "$RUN" -f "$cfg" -DFOREGROUND >"$RUN/httpd.log" 2>&1) & ;;
	barkeep)
		"$BIN_DIR/barkeep" check-config "$cfg" >"$RUN/barkeep.check" 2>&1 || { cat "$RUN/barkeep.check" >&2; die "barkeep config check failed"; }
		(pin "$PROXY_CPUS" "$BIN_DIR/barkeep" serve --config "$cfg" >"$RUN/barkeep.log" 2>&1) & ;;
	caddy)
		mkdir -p "$RUN/xdg-data" "$RUN/xdg-config"
		(export XDG_DATA_HOME=$RUN/xdg-data XDG_CONFIG_HOME=$RUN/xdg-config
		 pin "$PROXY_CPUS" caddy run --config "$cfg" --adapter caddyfile >"$RUN/caddy.log" 2>&1) & ;;
	*) die "unknown peer kind '$kind'" ;;
	esac
	PEER_PID=$!
}

# ---------------------------------------------------------------- one run
# run_one SCENARIO ROUND PEER: prints one result line, appends to $RESULTS
run_one() {
	local scen=$1 round=$2 peer=$3
	local sticky=0 target url pids_be be1 be2 target_pid wrk_args=() lua="" p
	[[ $scen == sticky ]] && sticky=1
	RUN_IDX=$(( $(ls -d "$OUTDIR"/runs/[0-9]* 2>/dev/null | wc -l) + 1 ))
	RUN=$OUTDIR/runs/$(printf %03d $RUN_IDX)-$scen-$peer-r$round
	mkdir -p "$RUN"
	for p in $LISTEN_PORT $((PORT_BASE + 1)) $((PORT_BASE + 2)); do
		port_free "$p" || die "port $p on 127.0.0.1 is busy (set PORT_BASE)"
	done
	PRE_BUSY=-
	[[ $QUIET_WAIT -gt 0 ]] && quiet_gate

	local cfgpeer=$peer
	if [[ $sticky == 1 && $peer != custom && $peer != *-sticky ]]; then cfgpeer=$peer-sticky; fi

	# backends
	if [[ $peer == direct ]]; then
		start_backend node1 "$B1" node1 "$PROXY_CPUS"; be1=$BE_PID; be2=
		url=http://$B1/
	else
		start_backend node1 "$B1" node1 "$BACKEND_CPUS"; be1=$BE_PID
		start_backend node2 "$B2" node2 "$BACKEND_CPUS"; be2=$BE_PID
		url=http://$LISTEN/
	fi
	wait_http "http://$B1/health" 10 || die "backend node1 did not start ($RUN/node1.log)"
	[[ -n $be2 ]] && { wait_http "http://$B2/health" 10 || die "backend node2 did not start"; }

	# proxy
	if [[ $peer == direct ]]; then
		target_pid=$be1
	else
		start_peer "$cfgpeer" "$sticky"
		target_pid=$PEER_PID
		STARTED_PIDS+=("$PEER_PID")
		if ! wait_http "$url" 15; then
			log "peer $cfgpeer did not answer on $url; logs in $RUN"
			tail -n 5 "$RUN"/*.log >&2
			cleanup
			return 1
		fi
	fi
	echo "$target_pid" >"$RUN/target.pid"

	# sanity: routes seen over 6 plain requests (round robin -> both), and
	# cookie-jar stickiness (sticky scenario: 8 clients x 6 requests)
	local routes jar_sticky=- c i r first okc=0
	routes=$(for i in 1 2 3 4 5 6; do curl -s -o /dev/null -D - -m 2 "$url" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-backend-route" { print $2 }'; done | sort | uniq -c | tr -s ' ' | tr '\n' ',')
	echo "$routes" >"$RUN/routes.txt"
	if [[ $sticky == 1 ]]; then
		for c in 1 2 3 4 5 6 7 8; do
			rm -f "$RUN/jar"; first=; r=ok
			for i in 1 2 3 4 5 6; do
				p=$(curl -s -o /dev/null -D - -m 2 -b "$RUN/jar" -c "$RUN/jar" "$url" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-backend-route" { print $2 }')
				[[ -z $first ]] && first=$p
				[[ $p != "$first" ]] && r=bad
			done
			[[ $r == ok ]] && okc=$((okc + 1))
		done
		jar_sticky=$okc/8
		lua=$LUA_DIR/sticky.lua
	fi
	[[ $scen == failover ]] && lua=$LUA_DIR/timeline.lua

	wrk_args=(-t"$THREADS" -c"$CONNS" --timeout "$WRK_TIMEOUT" --latency)
	[[ -n $lua ]] && wrk_args+=(-s "$lua")

	# warm-up
	if [[ $WARMUP -gt 0 ]]; then
		(pin "$LOAD_CPUS" wrk "${wrk_args[@]}" -d"${WARMUP}s" "$url" >"$RUN/wrk-warmup.txt" 2>&1)
	fi
	for p in $B1 ${be2:+$B2}; do curl -s -m 2 -o /dev/null "http://$p/__admin/reset"; done

	# measured run
	local t0 t1 s0 s1 pt0 pt1 bt0 bt1 wrk_pid node2_after=- restarted=
	s0=$(stat_snap); pt0=$(tree_ticks "$target_pid"); bt0=$(tree_ticks $be1 $be2); t0=$(date +%s.%N)
	(pin "$LOAD_CPUS" bash -c 'wrk "$@"; times >&3' wrk "${wrk_args[@]}" -d"${DURATION}s" "$url" >"$RUN/wrk.txt" 2>&1 3>"$RUN/wrk.times") &
	wrk_pid=$!
	if [[ $scen == failover && -n $be2 ]]; then
		sleep "$KILL_AT"
		if [[ $FAIL_MODE == kill ]]; then
			kill -KILL "$be2" 2>/dev/null
			{ wait "$be2"; } 2>/dev/null
			echo "node2 SIGKILL at ${KILL_AT}s" >>"$RUN/events.txt"
		else
			curl -s -m 2 -o /dev/null "http://$B2/__admin/mode?m=$FAIL_MODE&delay=$SLOW_DELAY"
			echo "node2 mode=$FAIL_MODE at ${KILL_AT}s" >>"$RUN/events.txt"
		fi
		if [[ -n $RESTART_AT ]]; then
			sleep "$(awk -v a="$RESTART_AT" -v b="$KILL_AT" 'BEGIN { print a - b }')"
			if [[ $FAIL_MODE == kill ]]; then
				start_backend node2 "$B2" node2 "$BACKEND_CPUS"; restarted=$BE_PID
				echo "node2 restarted at ${RESTART_AT}s" >>"$RUN/events.txt"
			else
				curl -s -m 2 -o /dev/null "http://$B2/__admin/reset"
				curl -s -m 2 -o /dev/null "http://$B2/__admin/mode?m=ok&delay=0s"
				restarted=$be2
				echo "node2 mode=ok at ${RESTART_AT}s" >>"$RUN/events.txt"
			fi
		fi
	fi
	wait "$wrk_pid"
	t1=$(date +%s.%N); pt1=$(tree_ticks "$target_pid"); bt1=$(tree_ticks $be1 $be2 $([[ $restarted != "$be2" ]] && echo "$restarted")); s1=$(stat_snap)
	local rss_kb st1 st2=""
	rss_kb=$(tree_rss_kb "$target_pid")
	st1=$(backend_stats "$B1"); [[ -n $be2 ]] && alive "$be2" && st2=$(backend_stats "$B2")
	[[ -n $restarted ]] && { st2=$(backend_stats "$B2"); node2_after=$(jget "$st2" total); }
	echo "$st1 $st2" >"$RUN/backend-stats.json"

	# stop everything of this run
	cleanup

	# compute
	local rps p50 p99 reqs non se wcpu
	read -r rps p50 p99 reqs non se < <(parse_wrk "$RUN/wrk.txt")
	wcpu=$(wrk_cpu_s "$RUN/wrk.times")
	local misr=- wc mis timeline=-
	if [[ $sticky == 1 ]]; then
		local w1 w2 m1 m2
		w1=$(jget "$st1" with_cookie); w2=$(jget "$st2" with_cookie); m1=$(jget "$st1" misrouted); m2=$(jget "$st2" misrouted)
		wc=$(( ${w1:-0} + ${w2:-0} )); mis=$(( ${m1:-0} + ${m2:-0} ))
		misr=$(awk -v m="$mis" -v w="$wc" 'BEGIN { printf "%.2f", (w > 0 ? 100 * m / w : 0) }')
	fi
	[[ $scen == failover ]] && timeline=$(sed -n 's/^TIMELINE //p' "$RUN/wrk.txt" | tr ' ' ',')
	[[ -z $timeline ]] && timeline=-
	local line
	line=$(awk -v scen="$scen" -v round="$round" -v peer="$peer" -v size="$SIZE" -v conns="$CONNS" -v pre="$PRE_BUSY" \
		-v rps="$rps" -v p50="$p50" -v p99="$p99" -v reqs="$reqs" -v non="$non" -v se="$se" \
		-v pt0="$pt0" -v pt1="$pt1" -v bt0="$bt0" -v bt1="$bt1" -v hz="$HZ" -v t0="$t0" -v t1="$t1" \
		-v rss="$rss_kb" -v wcpu="$wcpu" -v s0="$s0" -v s1="$s1" -v misr="$misr" -v jar="$jar_sticky" \
		-v n2a="$node2_after" -v tl="$timeline" -v nmax="$NOISE_MAX" -v batch="$BATCH" 'BEGIN {
		split(s0, a, " "); split(s1, b, " ")
		wall = t1 - t0; pcpu = (pt1 - pt0) / hz; bcpu = (bt1 - bt0) / hz
		c0 = (b[2] - a[2]) > 0 ? 100 * (b[1] - a[1]) / (b[2] - a[2]) : 0
		c1 = (b[4] - a[4]) > 0 ? 100 * (b[3] - a[3]) / (b[4] - a[4]) : 0
		tot = b[6] - a[6]; steal = tot > 0 ? 100 * (b[7] - a[7]) / tot : 0
		ours = (peer == "direct" ? 0 : pcpu) + bcpu + wcpu
		other = tot > 0 ? 100 * ((b[5] - a[5]) - ours * hz) / tot : 0
		per100k = reqs > 0 ? pcpu / reqs * 100000 : 0
		fail = reqs > 0 ? 100 * (non + se) / reqs : 0
		noisy = other > nmax ? 1 : 0
		printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%.0f\t%.3f\t%.1f\t%.2f\t%.2f\t%.0f\t%.0f\t%.1f\t%.1f\t%s\t%s\t%.3f\t%s\t%s\t%d\t%s\n",
			scen, round, peer, size, conns, pre, rps, p50, p99, reqs, non, se, pcpu, 100 * pcpu / wall, per100k,
			rss / 1024, bcpu, wcpu, c0, c1, steal, other, misr, jar, fail, n2a, tl, noisy, batch }')
	[[ -f $RESULTS ]] || echo "$COLS" | tr ' ' '\t' >"$RESULTS"
	echo "$line" >>"$RESULTS"
	echo "$line" >"$RUN/result.tsv"
	pretty_line "$line"
}

run_clean() { # run_one, repeated (up to NOISE_RETRIES times) while others' CPU load spoiled it
	local try
	for try in $(seq 0 "$NOISE_RETRIES"); do
		run_one "$@" || return 1
		[[ $(awk -F'\t' -v cols="$COLS" 'BEGIN { n = split(cols, c, " "); for (i = 1; i <= n; i++) if (c[i] == "noisy") k = i } { print $k }' "$RUN/result.tsv") == 1 ]] || return 0
		[[ $try -lt $NOISE_RETRIES ]] && log "others used >${NOISE_MAX}% of the machine during that run; repeating it"
	done
	return 0
}

pretty_line() { # human-readable one-liner from a TSV row
	awk -F'\t' -v cols="$COLS" 'BEGIN { n = split(cols, c, " ") }
	{ for (i = 1; i <= n; i++) v[c[i]] = $i
	  printf "%-9s %-9s r%-2s size=%-6s rps=%-7s p50=%sms p99=%sms non2xx=%s sockerr=%s proxy_cpu=%ss(%s%%) cpu_s/100k=%s rss=%sMB be_cpu=%ss wrk_cpu=%ss cpu0=%s%% cpu1=%s%% steal=%s%% other=%s%% pre_busy=%s%%",
		v["scenario"], v["peer"], v["round"], v["size"], v["rps"], v["p50_ms"], v["p99_ms"], v["non2xx"], v["sockerr"],
		v["proxy_cpu_s"], v["proxy_cpu_pct"], v["cpu_s_per_100k"], v["rss_mb"], v["be_cpu_s"], v["wrk_cpu_s"],
		v["cpu0_pct"], v["cpu1_pct"], v["steal_pct"], v["other_pct"], v["pre_busy"]
	  if (v["noisy"] == 1) printf " NOISY"
	  if (v["scenario"] == "sticky") printf " misrouted=%s%% jar_sticky=%s", v["misrouted_pct"], v["jar_sticky"]
	  if (v["scenario"] == "failover") printf " failed=%s%% node2_after_restart=%s timeline(s:ok/err)=%s", v["fail_pct"], v["node2_after"], v["timeline"]
	  printf "\n" }' <<<"$1"
}

# ---------------------------------------------------------------- summary
summary() { # summary TSV [SCENARIO]: medians per peer and ratios vs haproxy
	local f=$1 scen=${2:-}
	awk -F'\t' -v want="$scen" '
	function median(s,   n, a, i, j, t) {
		n = split(s, a, " "); for (i = 2; i <= n; i++) { t = a[i] + 0; j = i - 1; while (j >= 1 && a[j] + 0 > t) { a[j + 1] = a[j]; j-- } a[j + 1] = t }
		if (n == 0) return 0; if (n % 2) return a[(n + 1) / 2]; return (a[n / 2] + a[n / 2 + 1]) / 2 }
	function mn(s,  n, a, i, m) { n = split(s, a, " "); m = a[1] + 0; for (i = 2; i <= n; i++) if (a[i] + 0 < m) m = a[i] + 0; return m }
	function mx(s,  n, a, i, m) { n = split(s, a, " "); m = a[1] + 0; for (i = 2; i <= n; i++) if (a[i] + 0 > m) m = a[i] + 0; return m }
	NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
	want != "" && $col["scenario"] != want { next }
	{ k = $col["scenario"] " " $col["size"] " " $col["peer"]; all[k]++
	  if (("noisy" in col) && $col["noisy"] == 1) { if (!(k in seen)) { seen[k] = 1; order[++nk] = k }; next } }
	{
	  if (!(k in seen)) { seen[k] = 1; order[++nk] = k }
	  n[k]++
	  rps[k] = rps[k] " " $col["rps"]; p50[k] = p50[k] " " $col["p50_ms"]; p99[k] = p99[k] " " $col["p99_ms"]
	  cpu[k] = cpu[k] " " $col["cpu_s_per_100k"]; rss[k] = rss[k] " " $col["rss_mb"]; pct[k] = pct[k] " " $col["proxy_cpu_pct"]
	  err[k] = err[k] " " ($col["non2xx"] + $col["sockerr"]); oth[k] = oth[k] " " $col["other_pct"]
	  b = ("batch" in col) ? $col["batch"] : ""; rk = k SUBSEP b SUBSEP $col["round"]
	  R_rps[rk] = $col["rps"]; R_p99[rk] = $col["p99_ms"]; R_cpu[rk] = $col["cpu_s_per_100k"]; R_rss[rk] = $col["rss_mb"]
	  if (!((k SUBSEP b SUBSEP $col["round"]) in rseen)) { rseen[rk] = 1; rounds[k] = rounds[k] " " b SUBSEP $col["round"] } }
	END {
		printf "%-10s %-6s %-17s %5s %8s %6s %7s %7s %9s %5s %7s %6s | %6s %6s %6s %6s\n", "scenario", "size", "peer", "n", "rps", "spread", "p50ms", "p99ms", "cpu/100k", "cpu%", "rss_MB", "errors", "x_rps", "x_p99", "x_cpu", "x_rss"
		for (i = 1; i <= nk; i++) { k = order[i]; split(k, kk, " ")
			m_rps[k] = median(rps[k]); m_p99[k] = median(p99[k]); m_cpu[k] = median(cpu[k]); m_rss[k] = median(rss[k]) }
		for (i = 1; i <= nk; i++) { k = order[i]; split(k, kk, " "); h = kk[1] " " kk[2] " haproxy"
			sp = m_rps[k] > 0 ? 100 * (mx(rps[k]) - mn(rps[k])) / m_rps[k] : 0
			if (n[k] == 0) { printf "%-10s %-6s %-17s %5s (all runs noisy)\n", kk[1], kk[2], kk[3], "0/" all[k]; continue }
			printf "%-10s %-6s %-17s %5s %8.0f %5.0f%% %7.2f %7.2f %9.3f %5.0f %7.1f %6.0f |", kk[1], kk[2], kk[3], n[k] "/" all[k], m_rps[k], sp, median(p50[k]), m_p99[k], m_cpu[k], median(pct[k]), m_rss[k], median(err[k])
			if (!((h in m_rps) && m_rps[h] > 0 && kk[3] != "direct")) { printf " %6s %6s %6s %6s\n", "-", "-", "-", "-"; continue }
			# paired: median over rounds (same batch, same round) of peer/haproxy
			q1 = q2 = q3 = q4 = ""; np = split(rounds[k], rr, " ")
			for (j = 1; j <= np; j++) { a = k SUBSEP rr[j]; c = h SUBSEP rr[j]
				if ((c in R_rps) && R_rps[c] > 0 && R_p99[c] > 0 && R_cpu[c] > 0 && R_rss[c] > 0) {
					q1 = q1 " " R_rps[a] / R_rps[c]; q2 = q2 " " R_p99[a] / R_p99[c]; q3 = q3 " " R_cpu[a] / R_cpu[c]; q4 = q4 " " R_rss[a] / R_rss[c]; npair[k]++ } }
			if (npair[k] > 0) printf " %6.2f %6.2f %6.2f %6.2f  (paired x%d)\n", median(q1), median(q2), median(q3), median(q4), npair[k]
			else printf " %6.2f %6.2f %6.2f %6.2f  (ratio of medians)\n", m_rps[k] / m_rps[h], (m_p99[h] > 0 ? m_p99[k] / m_p99[h] : 0), (m_cpu[h] > 0 ? m_cpu[k] / m_cpu[h] : 0), (m_rss[h] > 0 ? m_rss[k] / m_rss[h] : 0) }
		print "(n = clean/all runs; runs where others used >NOISE_MAX% of the machine are left out;"
		print " medians over rounds; spread = (max-min)/median of rps; cpu/100k = proxy CPU-seconds per 100k requests;"
		print " x_* = ratio to haproxy in the same scenario/size: the median of per-round ratios when rounds pair up"
		print " (same batch and round: cancels drift between rounds), else the ratio of medians;"
		print " direct row: the backend itself on the proxy core)"
	}' "$f"
}

# ---------------------------------------------------------------- main
header() {
	log "outdir=$OUTDIR duration=${DURATION}s warmup=${WARMUP}s conns=$CONNS threads=$THREADS size=${SIZE}B pin=$PIN proxy_cpus=$PROXY_CPUS load_cpus=$LOAD_CPUS backend_cpus=$BACKEND_CPUS listen=$LISTEN backends=$B1,$B2 loadavg=$(cut -d' ' -f1-3 /proc/loadavg)"
}

main() {
	local mode=${1:-}
	[[ -n $mode ]] || { sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
	case $mode in -h | --help | help) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
	if [[ $mode == summary ]]; then summary "${2:?results.tsv}" "${3:-}"; exit 0; fi
	command -v wrk >/dev/null || die "wrk not installed (apt-get install wrk)"
	mkdir -p "$OUTDIR"
	build_backend
	header
	local peers=() p r
	case $mode in
	all)
		shift; if [[ $# -gt 0 ]]; then peers=("$@"); else read -ra peers <<<"$PEERS"; [[ -n $CUSTOM_CMD ]] && peers+=(custom); fi
		for r in $(seq 1 "$ROUNDS"); do for p in "${peers[@]}"; do run_clean throughput "$r" "$p"; done; done
		echo; summary "$RESULTS" throughput ;;
	sticky)
		shift; if [[ $# -gt 0 ]]; then peers=("$@"); else peers=(haproxy httpd); fi
		for r in $(seq 1 "$ROUNDS"); do for p in "${peers[@]}"; do run_clean sticky "$r" "$p"; done; done
		echo; summary "$RESULTS" sticky ;;
	failover)
		shift; if [[ $# -gt 0 ]]; then peers=("$@"); else peers=(haproxy nginx httpd caddy caddy-hc); fi
		for r in $(seq 1 "${FAIL_ROUNDS:-1}"); do for p in "${peers[@]}"; do run_clean failover "$r" "$p"; done; done ;;
	custom)
		[[ -n ${2:-} ]] && CUSTOM_CMD=$2
		run_clean throughput 1 custom ;;
	*)
		run_clean throughput 1 "$mode" ;;
	esac
	log "results: $RESULTS"
}

main "$@"
