#!/bin/sh
# bench.sh - smtpd benchmark, run by `make bench` (from the repository root).
#
# Builds tests/bench/{smtpload,fsprobe,smtpsink}.c into build/bench/,
# starts ./smtpd on a free 127.0.0.1 port with a throw-away spool, and
# prints:
#   - the disk floor for durable maildir files (fsprobe, 1 and 20 threads,
#     with and without fsync), and the same for the unnamed-file way smtpd
#     writes where the filesystem allows (with fsync)
#   - the transport floor: the same loads against smtpsink, a server that
#     answers SMTP and stores nothing
#   - messages/s for 4 KiB messages at concurrency 1, 20 and 100, with one
#     message per connection and with 100 per connection, each with and
#     without pipelining; 1 MiB messages at concurrency 20
#   - p50/p99 latency at concurrency 1, server CPU seconds per 10,000 messages
#   - server RSS with 0, 1000 and 10000 idle connections, and whether one
#     more client is served meanwhile; the time for a burst of 1000 connects
#   - 4 KiB throughput (conc 1, 20, 100; 1 msg/conn with and without
#     pipelining, 100 msgs/conn pipelined) against a daemon with "fsync no"
# Throughput figures are also given as a ratio to the fsync floor, and to
# both floors together: a server that added nothing of its own would
# spend, per message, the sink's time plus the disk's, 1/(1/disk + 1/sink).
# Each run delivers to a mailbox of its own, and no file is removed until
# the end: removing thousands of files just before creating thousands
# more measures how the filesystem reuses freed inodes (costly on ext4
# without a journal), not smtpd; the probe keeps its files for the same
# reason. For the same reason, on ext4 without a journal leave five
# minutes between two runs: that long after a run's spool is removed,
# ext4 still steps around its freed inodes. The spool needs ~1.5 GB at
# BENCH_SCALE=1.
#
# It never fails on a timing: the exit status is non-zero only when the
# daemon does not start (or dies), or messages fail (including the one
# extra client while idle connections are held, and idle or burst
# connections the daemon refuses or drops).
#
# Environment:
#   BENCH_SCALE=1        multiplies every message count (0.1 for a quick look)
#   BENCH_MAX_SECS=15    each load run stops starting messages after this
#   BENCH_PROBE_SECS=3   seconds per fsprobe run
#   BENCH_IDLE="1000 10000"  idle connection counts for the memory figures
#   BENCH_BURST=1000     connections in the burst
#   BENCH_DIR=$TMPDIR    where the temporary spool goes (its disk is measured)
#   BENCH_WIOPS=N        as root: run everything in a new cgroup whose writes
#                        to that disk are limited to N per second (cgroup v2
#                        io.max, or v1 blkio), to measure on a slower disk
#                        than the machine has; the probe is limited alike
#   SMTPD=./smtpd  CC=cc
# The raw smtpload/fsprobe lines are kept in build/bench/results.txt.

set -u

cd "$(dirname "$0")/../.." || exit 2
ROOT=$(pwd)
SMTPD=${SMTPD:-./smtpd}
CC=${CC:-cc}
SCALE=${BENCH_SCALE:-1}
MAXSECS=${BENCH_MAX_SECS:-15}
PROBE_SECS=${BENCH_PROBE_SECS:-3}
IDLE_COUNTS=${BENCH_IDLE:-1000 10000}
BURST=${BENCH_BURST:-1000}
OUT=build/bench
BENCH_T0=$(date +%s)

die() {
	echo "bench: $*" >&2
	exit 2
}

[ -x "$SMTPD" ] || die "$SMTPD not found: run make first"
mkdir -p "$OUT" || die "cannot create $OUT"
for tool in smtpload fsprobe smtpsink; do
	$CC -std=c11 -Wall -Wextra -Werror -O2 -pthread -D_GNU_SOURCE \
	    -o "$OUT/$tool" "tests/bench/$tool.c" || die "cannot build $tool"
done
LOAD=$ROOT/$OUT/smtpload
PROBE=$ROOT/$OUT/fsprobe
SINK=$ROOT/$OUT/smtpsink
RESULTS=$ROOT/$OUT/results.txt
: > "$RESULTS"

WORK=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/smtpd-bench.XXXXXX") ||
	die "cannot create a temporary directory"
SPID=
IDLEPID=
FAILED=0
RUN=0
STARTS=0

CGROUP=

cleanup() {
	[ -n "$IDLEPID" ] && kill "$IDLEPID" 2>/dev/null
	if [ -n "$SPID" ]; then
		kill "$SPID" 2>/dev/null
		wait "$SPID" 2>/dev/null
	fi
	if [ -n "$CGROUP" ]; then
		echo $$ > "$(dirname "$CGROUP")/cgroup.procs" &&
		    rmdir "$CGROUP" 2>/dev/null ||
		    echo "bench: could not remove $CGROUP" >&2
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# ---------------------------------------------------------------- helpers

# throttle_writes N - move this shell, and so all it starts, into a new
# cgroup whose writes to the disk under $WORK are limited to N per second;
# sets CGROUP and DISK. The limit is the disk's, also for a partition.
throttle_writes() {
	DISK=$(stat -c '%Hd:%Ld' "$WORK") || return 1
	if [ ! -e "/sys/dev/block/$DISK" ]; then
		echo "bench: $WORK is on no block device ($DISK)" >&2
		return 1
	fi
	if [ -e "/sys/dev/block/$DISK/partition" ]; then
		DISK=$(cat "/sys/dev/block/$DISK/../dev") || return 1
	fi
	if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
		grep -qw io /sys/fs/cgroup/cgroup.subtree_control ||
		    echo +io > /sys/fs/cgroup/cgroup.subtree_control || return 1
		mkdir "/sys/fs/cgroup/smtpd-bench.$$" || return 1
		CGROUP=/sys/fs/cgroup/smtpd-bench.$$
		echo "$DISK wiops=$1" > "$CGROUP/io.max" || return 1
	elif [ -d /sys/fs/cgroup/blkio ]; then
		mkdir "/sys/fs/cgroup/blkio/smtpd-bench.$$" || return 1
		CGROUP=/sys/fs/cgroup/blkio/smtpd-bench.$$
		echo "$DISK $1" > "$CGROUP/blkio.throttle.write_iops_device" || return 1
	else
		echo "bench: no cgroup io controller" >&2
		return 1
	fi
	echo $$ > "$CGROUP/cgroup.procs"
}

# kv LINE KEY - the value of KEY=... in a key=value line.
kv() {
	printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

# ratio A B - A/B with two decimals, "-" when B is zero or missing.
ratio() {
	case "$1$2" in *[!0-9.]*|'') printf -- -; return ;; esac
	awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) printf "-"; else printf "%.2f", a / b }'
}

# combined A B - the rate of doing both A's and B's work per message,
# 1/(1/A + 1/B); empty when either is missing or zero.
combined() {
	case "$1$2" in *[!0-9.]*|'') return ;; esac
	awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.1f", 1 / (1 / a + 1 / b) }'
}

# scaled N - N times BENCH_SCALE, at least 1.
scaled() {
	awk -v n="$1" -v s="$SCALE" 'BEGIN { v = int(n * s + 0.5); print (v < 1 ? 1 : v) }'
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
	    awk -v s="$$" 'BEGIN { srand(s); print 20000 + int(rand() * 20000) }'
}

rss_kb() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$SPID/status" 2>/dev/null
}

threads_of() {
	awk '/^Threads:/ { print $2 }' "/proc/$SPID/status" 2>/dev/null
}

alive() {
	[ -n "$SPID" ] && kill -0 "$SPID" 2>/dev/null
}

# daemon_dead - the daemon is gone: say so with its last words, and stop.
daemon_dead() {
	echo
	echo "bench: FAILURE: ${SERVER:-smtpd} (pid $SPID) is no longer running ($1)" >&2
	wait "$SPID" 2>/dev/null
	echo "bench: its exit status: $?; last lines of its log:" >&2
	tail -n 15 "$WORK/smtpd.log" >&2
	SPID=
	exit 1
}

# wait_ready - wait up to 5 s for the server SPID to greet on PORT: 0 once
# it does, else 1 with the server stopped.
wait_ready() {
	i=0
	while [ $i -lt 50 ] && kill -0 "$SPID" 2>/dev/null; do
		"$LOAD" -p "$PORT" -M burst -N 1 -t 2 -e 0 >/dev/null 2>&1 && return 0
		sleep 0.1
		i=$((i + 1))
	done
	stop_daemon
	return 1
}

# start_daemon FSYNC - a fresh spool and daemon; sets SPID, PORT, SPOOL.
start_daemon() {
	stop_daemon
	SERVER=smtpd
	STARTS=$((STARTS + 1))
	SPOOL=$WORK/spool-$STARTS-fsync-$1
	mkdir -p "$SPOOL"
	for _ in 1 2 3 4 5; do
		PORT=$(free_port)
		cat > "$WORK/smtpd.conf" <<EOF
listen 127.0.0.1:$PORT
hostname bench.test
domain example.org
maildir $SPOOL/%d/%u
max_clients 20000
max_clients_per_ip 0
fsync $1
timeout 300
EOF
		"$SMTPD" -d -f "$WORK/smtpd.conf" > "$WORK/smtpd.log" 2>&1 &
		SPID=$!
		wait_ready && return 0
		grep -q "cannot bind" "$WORK/smtpd.log" || break
	done
	echo "bench: FAILURE: smtpd did not start; its log:" >&2
	cat "$WORK/smtpd.log" >&2
	exit 1
}

# start_sink - smtpsink on a free port in place of the daemon; sets SPID,
# PORT.
start_sink() {
	stop_daemon
	SERVER=smtpsink
	for _ in 1 2 3 4 5; do
		PORT=$(free_port)
		"$SINK" -p "$PORT" > "$WORK/smtpd.log" 2>&1 &
		SPID=$!
		wait_ready && return 0
	done
	echo "bench: FAILURE: smtpsink did not start; its output:" >&2
	cat "$WORK/smtpd.log" >&2
	exit 1
}

stop_daemon() {
	if [ -n "$SPID" ]; then
		kill "$SPID" 2>/dev/null
		wait "$SPID" 2>/dev/null
		SPID=
	fi
}

# load NAME ARGS... - one smtpload run against the daemon; the result
# line in LINE. Failed messages or errors mark the bench as failed.
load() {
	name=$1
	shift
	RUN=$((RUN + 1))
	LINE=$("$LOAD" -p "$PORT" -C "$SPID" -d "$MAXSECS" -r "run$RUN@example.org" "$@" \
	    2>"$WORK/load.err")
	echo "$name fsync=$FS $LINE" >> "$RESULTS"
	if [ -z "$LINE" ] || [ "$(kv "$LINE" fail)" != 0 ] || [ "$(kv "$LINE" errs)" != 0 ]; then
		FAILED=1
		echo "  !! $name: messages failed: ${LINE:-no result}" >&2
		sed 's/^/  !! /' "$WORK/load.err" >&2
	fi
	alive || daemon_dead "after $name"
}

# row CONC PERCONN PIPE [FLOOR...] - a table row from LINE; the ratio of
# msgs/s to each FLOOR ("-" for an empty one).
row() {
	r=$(kv "$LINE" rate)
	printf '  %5s %9s %5s %7s %9s %8s %8s %8s %9s' "$1" "$2" "$3" \
	    "$(kv "$LINE" ok)" "$r" "$(kv "$LINE" MBps)" "$(kv "$LINE" p50_ms)" \
	    "$(kv "$LINE" p99_ms)" "$(kv "$LINE" cpu_per_10k)"
	shift 3
	for f in "$@"; do
		printf ' %10s' "$(ratio "$r" "$f")"
	done
	echo
}

# table_head [RATIO-TITLE...]
table_head() {
	printf '  %5s %9s %5s %7s %9s %8s %8s %8s %9s' conc msgs/conn pipe \
	    msgs msgs/s MB/s p50_ms p99_ms cpu/10k
	for t in "$@"; do
		printf ' %10s' "$t"
	done
	echo
}

# sink_rate CONC PERCONN PIPE - msgs/s of the sink run of that case.
sink_rate() {
	eval "printf %s \"\${SINK_$1_$2_$3:-}\""
}

# cases - the 4 KiB matrix: "CONC PERCONN PIPE MESSAGES" per line.
cases() {
	for conc in 1 20 100; do
		n1=$(scaled "$([ $conc = 1 ] && echo 2000 || echo 10000)")
		n100=$(scaled 10000)
		echo "$conc 1 no $n1"
		echo "$conc 1 yes $n1"
		echo "$conc 100 no $n100"
		echo "$conc 100 yes $n100"
	done
}

# run_case CONC PERCONN PIPE MESSAGES [SIZE] - one load run of that case.
run_case() {
	p=
	[ "$3" = yes ] && p=-P
	load "c$1-m$2$([ "$3" = yes ] && echo -pipe)" -c "$1" -n "$4" \
	    -s "${5:-4096}" -m "$2" $p
}

# throughput FLOOR1 FLOOR20 - the 4 KiB matrix; FLOORn: files/s at n
# threads. Each row also over both floors, with the sink's rate.
throughput() {
	table_head "x floor" "x both"
	while read -r conc m pipe n; do
		floor=$2
		[ $conc = 1 ] && floor=$1
		run_case $conc $m $pipe $n
		row $conc $m $pipe "$floor" "$(combined "$floor" "$(sink_rate $conc $m $pipe)")"
		echo "$conc $m $pipe $LINE" >> "$WORK/matrix"
	done < "$WORK/cases"
}

# matrix_line CONC PERCONN PIPE - the result line of that throughput case.
matrix_line() {
	awk -v k="$1 $2 $3" 'index($0, k " ") == 1 { sub(/^[^ ]+ [^ ]+ [^ ]+ /, ""); l = $0 } END { print l }' \
	    "$WORK/matrix"
}

# ------------------------------------------------------------------- run

if [ -n "${BENCH_WIOPS:-}" ]; then
	case $BENCH_WIOPS in *[!0-9]*|0*) die "BENCH_WIOPS: not a number: $BENCH_WIOPS" ;; esac
	throttle_writes "$BENCH_WIOPS" ||
	    die "BENCH_WIOPS: cannot limit the disk's writes (needs root and a cgroup io controller)"
fi

echo "smtpd benchmark: $(nproc 2>/dev/null || echo '?') CPUs, spool in $WORK" \
    "($(df -PT "$WORK" 2>/dev/null | awk 'NR == 2 { print $2 }')), BENCH_SCALE=$SCALE," \
    "runs capped at ${MAXSECS}s"
[ -n "$CGROUP" ] &&
    echo "Writes to the spool's disk ($DISK) limited to $BENCH_WIOPS per second (BENCH_WIOPS, $CGROUP)"
echo

echo "Disk floor (fsprobe, ${PROBE_SECS}s each): create tmp/NAME, write 4 KiB, fsync," \
    "close, rename to new/, fsync new/"
echo "  (cpu/10k: the probe's own CPU seconds per 10,000 files)"
printf '  %7s %6s %9s %9s %8s %8s\n' threads fsync files/s ms/file p99_ms cpu/10k
# probe THREADS yes|no [--unnamed] - one fsprobe run; the result line in L.
probe() {
	mkdir -p "$WORK/probe-$1-$2${3-}"
	if [ "$2" = yes ]; then
		L=$("$PROBE" -D "$WORK/probe-$1-$2${3-}" -k -t "$1" -s "$PROBE_SECS" ${3-})
	else
		L=$("$PROBE" -D "$WORK/probe-$1-$2${3-}" -k -t "$1" -s "$PROBE_SECS" --no-fsync ${3-})
	fi || echo "  !! fsprobe failed" >&2
	echo "fsprobe ${3:+$3 }$L" >> "$RESULTS"
	printf '  %7s %6s %9s %9s %8s %8s\n' "$1" "$2" "$(kv "$L" rate)" \
	    "$(kv "$L" per_file_ms)" "$(kv "$L" p99_ms)" "$(kv "$L" cpu_per_10k)"
}
probe 1 yes
FLOOR_1_yes=$(kv "$L" rate)
FLOORMS_1_yes=$(kv "$L" per_file_ms)
probe 20 yes
FLOOR_20_yes=$(kv "$L" rate)
FLOORCPU_20_yes=$(kv "$L" cpu_per_10k)
probe 1 no
FLOOR_1_no=$(kv "$L" rate)
probe 20 no
FLOOR_20_no=$(kv "$L" rate)
echo "  The way smtpd writes where the filesystem allows: an unnamed file in new/"
echo "  (O_TMPFILE), write, fsync, linkat to NAME, fsync the file again; no tmp/ to change."
echo "  The ratios below stay over the tmp/ floor above."
probe 1 yes --unnamed
probe 20 yes --unnamed
echo

cases > "$WORK/cases"
: > "$WORK/matrix"

# --- the transport floor
FS=sink
start_sink
echo "Transport floor: the same loads against smtpsink, which answers SMTP and stores"
echo "  nothing (thread per connection; cpu/10k: the sink's CPU seconds per 10,000)"
table_head
while read -r conc m pipe n; do
	run_case $conc $m $pipe $n
	row $conc $m $pipe
	eval "SINK_${conc}_${m}_${pipe}=\$(kv \"\$LINE\" rate)"
done < "$WORK/cases"
echo "  1 MiB messages:"
run_case 20 1 no "$(scaled 400)" 1048576
row 20 1 no
SINK_BIG=$(kv "$LINE" rate)
stop_daemon
echo

# --- fsync yes
FS=yes
start_daemon yes
echo "Throughput, 4 KiB messages, fsync yes"
echo "  (x floor: msgs/s over the fsync floor at 1 thread for conc 1, at 20 threads"
echo "  otherwise; x both: over that floor and the sink's rate together;"
echo "  MB = 10^6 bytes; cpu/10k: server CPU seconds per 10,000 messages)"
throughput "$FLOOR_1_yes" "$FLOOR_20_yes"
echo

echo "1 MiB messages, concurrency 20, fsync yes (no disk floor: the 4 KiB floor does not"
echo "  apply; x sink: over the sink's rate for 1 MiB at 1 msg/conn)"
table_head "x sink"
load c20-1MiB -c 20 -n "$(scaled 400)" -s 1048576 -m 1
row 20 1 no "$SINK_BIG"
BIG=$LINE
load c20-1MiB-m100-pipe -c 20 -n "$(scaled 400)" -s 1048576 -m 100 -P
row 20 100 yes "$SINK_BIG"
echo

echo "Latency at concurrency 1, fsync yes (x floor: over one durable file at 1 thread," \
    "$FLOORMS_1_yes ms)"
printf '  %-34s %8s %8s %8s %8s\n' run p50_ms p99_ms "p50 x" "p99 x"
# latency TITLE LINE
latency() {
	printf '  %-34s %8s %8s %8s %8s\n' "$1" "$(kv "$2" p50_ms)" "$(kv "$2" p99_ms)" \
	    "$(ratio "$(kv "$2" p50_ms)" "$FLOORMS_1_yes")" \
	    "$(ratio "$(kv "$2" p99_ms)" "$FLOORMS_1_yes")"
}
latency "1 msg/conn, connect..QUIT" "$(matrix_line 1 1 no)"
latency "100 msgs/conn, per message" "$(matrix_line 1 100 no)"
latency "100 msgs/conn pipelined, per msg" "$(matrix_line 1 100 yes)"
echo

echo "Server CPU seconds per 10,000 messages (the disk floor's own, for comparison:" \
    "$FLOORCPU_20_yes per 10,000 files at 20 threads)"
printf '  %-34s %8s\n' "4 KiB, conc 20, 1 msg/conn" "$(kv "$(matrix_line 20 1 no)" cpu_per_10k)"
printf '  %-34s %8s\n' "4 KiB, conc 20, 100/conn pipelined" "$(kv "$(matrix_line 20 100 yes)" cpu_per_10k)"
printf '  %-34s %8s\n' "1 MiB, conc 20, 1 msg/conn" "$(kv "$BIG" cpu_per_10k)"
echo

# --- memory with idle connections: a fresh daemon for a clean baseline
start_daemon yes
HARD=$(ulimit -Hn 2>/dev/null || echo unlimited)
echo "Server memory with idle connections (each: greeting + EHLO, then held;" \
    "fresh daemon, max_clients 20000)"
printf '  %8s %8s %9s %11s %8s  %s\n' idle held RSS_KB KB/conn threads "one more client served?"
sleep 0.5
RSS0=$(rss_kb)
printf '  %8s %8s %9s %11s %8s  %s\n' 0 0 "$RSS0" - "$(threads_of)" -
echo "idle 0 rss_kb=$RSS0" >> "$RESULTS"
for n in $IDLE_COUNTS; do
	want=$n
	if [ "$HARD" != unlimited ] && [ $((n + 200)) -gt "$HARD" ]; then
		n=$((HARD - 200))
		echo "  (RLIMIT_NOFILE hard limit $HARD: holding $n instead of $want)"
	fi
	: > "$WORK/idle.out"
	"$LOAD" -p "$PORT" -M idle -N "$n" -S 0 -t 60 -e 10 > "$WORK/idle.out" 2> "$WORK/idle.err" &
	IDLEPID=$!
	i=0
	while [ $i -lt 900 ] && ! grep -q idle_held "$WORK/idle.out"; do
		kill -0 "$IDLEPID" 2>/dev/null || break
		sleep 0.1
		i=$((i + 1))
	done
	L=$(grep idle_held "$WORK/idle.out")
	held=$(kv "$L" idle_held)
	sleep 0.5
	rss=$(rss_kb)
	thr=$(threads_of)
	alive || daemon_dead "while holding $n idle connections"
	# One more client while they are held.
	P=$("$LOAD" -p "$PORT" -n 1 -t 10 2>"$WORK/proof.err")
	if [ "$(kv "$P" ok)" = 1 ]; then
		proof="yes, $(kv "$P" p50_ms) ms"
	else
		proof="NO: $(head -n 1 "$WORK/proof.err")"
		FAILED=1
	fi
	per=$(awk -v a="$rss" -v b="$RSS0" -v n="${held:-0}" \
	    'BEGIN { if (n > 0 && a != "") printf "%.1f", (a - b) / n; else printf "-" }')
	printf '  %8s %8s %9s %11s %8s  %s\n' "$n" "${held:-0}" "$rss" "$per" "$thr" "$proof"
	echo "idle $n $L rss_kb=$rss threads=$thr proof=$P" >> "$RESULTS"
	if [ "${held:-0}" != "$n" ]; then
		FAILED=1
		echo "  !! only ${held:-0} of $n idle connections were established:" >&2
		sed 's/^/  !! /' "$WORK/idle.err" >&2
		grep -m 5 -E "refused|WARNING|pthread|accept" "$WORK/smtpd.log" | sed 's/^/  !! smtpd: /' >&2
	fi
	kill "$IDLEPID" 2>/dev/null
	wait "$IDLEPID" 2>/dev/null
	IDLEPID=
	D=$(grep idle_done "$WORK/idle.out")
	if [ "$(kv "$D" dropped)" != 0 ] && [ -n "$D" ]; then
		echo "  !! the server dropped $(kv "$D" dropped) held connections" >&2
		sed 's/^/  !! /' "$WORK/idle.err" >&2
	fi
	# Wait for the sessions to end before the next figure.
	i=0
	while [ $i -lt 100 ] && [ "$(threads_of)" -gt 2 ] 2>/dev/null; do
		sleep 0.1
		i=$((i + 1))
	done
	alive || daemon_dead "after releasing $n idle connections"
done
printf '  %8s %8s %9s %11s %8s\n' released 0 "$(rss_kb)" - "$(threads_of)"
echo

echo "Connection burst: $BURST connects issued at once, until every greeting arrived"
L=$("$LOAD" -p "$PORT" -M burst -N "$BURST" -t 60 2>"$WORK/burst.err")
echo "burst $L" >> "$RESULTS"
printf '  %s connections: %s greeted, %s failed, %s s (slowest %s ms)\n' "$BURST" \
    "$(kv "$L" greeted)" "$(kv "$L" failed)" "$(kv "$L" secs)" "$(kv "$L" max_ms)"
if [ "$(kv "$L" failed)" != 0 ]; then
	FAILED=1
	sed 's/^/  !! /' "$WORK/burst.err" >&2
fi
alive || daemon_dead "after the burst"
echo

# --- fsync no
FS=no
start_daemon no
echo "Throughput, 4 KiB messages, fsync no"
echo "  (x floor: over the fsync floor; x nofs flr: over the no-fsync floor;"
echo "  each at 1 thread for conc 1, at 20 threads otherwise; x nofs+snk: over"
echo "  the no-fsync floor and the sink's rate together)"
table_head "x floor" "x nofs flr" "x nofs+snk"
while read -r conc m pipe n; do
	# All but the 100/conn rows without pipelining, and 100/conn at conc 1.
	[ $m = 100 ] && { [ $pipe = no ] || [ $conc = 1 ]; } && continue
	floor=$FLOOR_20_yes
	nofloor=$FLOOR_20_no
	[ $conc = 1 ] && floor=$FLOOR_1_yes && nofloor=$FLOOR_1_no
	run_case $conc $m $pipe $n
	row $conc $m $pipe "$floor" "$nofloor" \
	    "$(combined "$nofloor" "$(sink_rate $conc $m $pipe)")"
done < "$WORK/cases"
echo
stop_daemon

# --- recipient lookups in a domain of 100,000 listed mailboxes
lookup_daemon() {	# lookup_daemon NMAILBOXES
	stop_daemon
	awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) printf "mailbox u%d@example.org\n", i }' \
	    > "$WORK/mailboxes.conf"
	PORT=$(free_port)
	printf '%s\n' "listen 127.0.0.1:$PORT" "hostname bench.test" "domain example.org" \
	    "include mailboxes.conf" "maildir $WORK/lookup/%d/%u" "max_clients_per_ip 0" \
	    "max_errors 1000000" "max_junk_commands 0" "max_recipients 1000" \
	    > "$WORK/smtpd.conf"
	t0=$(date +%s.%N)
	"$SMTPD" -n -f "$WORK/smtpd.conf" > /dev/null || die "smtpd -n refused the lookup config"
	LOADSECS=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
	"$SMTPD" -d -f "$WORK/smtpd.conf" > "$WORK/smtpd.log" 2>&1 &
	SPID=$!
	wait_ready || die "smtpd did not start with $1 mailboxes"
}
echo "RCPT lookups: 20 x 1000 RCPTs pipelined on one connection, to listed or unknown"
echo "  mailboxes (smtpd -n s: the time to read and index the configuration)"
printf '  %10s %10s %14s %14s\n' mailboxes "smtpd -n s" "listed rcpt/s" "unknown rcpt/s"
for n in 1 100000; do
	lookup_daemon $n
	A=$(python3 tests/bench/rcptrate.py "$PORT" example.org u 1000 20 "$n") || FAILED=1
	B=$(python3 tests/bench/rcptrate.py "$PORT" example.org nobody 1000 20) || FAILED=1
	echo "lookup mailboxes=$n load_secs=$LOADSECS listed $A unknown $B" >> "$RESULTS"
	printf '  %10s %10s %14s %14s\n' "$n" "$LOADSECS" "$(kv "$A" rate)" "$(kv "$B" rate)"
done
stop_daemon
echo

echo "Raw results: $OUT/results.txt; total time $(( $(date +%s) - BENCH_T0 ))s"
if [ $FAILED != 0 ]; then
	echo "bench: FAILURES above (messages or connections failed)" >&2
	exit 1
fi
exit 0
