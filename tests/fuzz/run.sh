#!/bin/sh
# run.sh - build and run the libFuzzer harnesses.
#
#   tests/fuzz/run.sh [SECONDS [NAME...]]
#
# Builds each harness tests/fuzz/fuzz_NAME.c (all of them unless NAMEs
# are given: smtpaddr data config proxy esmtp route dnsbl dns session
# policy, metrics, xclient, milter) with clang's libFuzzer,
# ASan and UBSan into fuzz-out/, copies its seed corpus
# tests/fuzz/corpus/NAME/ into a scratch directory fuzz-out/corpus/NAME/
# (the seeds stay as they are), and fuzzes it for SECONDS (default 60).
# Exits non-zero if any harness fails to build or finds a crash; the
# crashing input is left in fuzz-out/artifacts/ and the log in
# fuzz-out/NAME.log.
#
# session runs the real session_run() over a socketpair with a scratch
# spool (in /dev/shm), so it links every src/*.c but main.c; its log
# lines are silenced (-close_fd_mask=2; its own reports still show).
# To see a crashing input's conversation and log:
#   FUZZ_SESSION_TRACE=1 fuzz-out/fuzz_session fuzz-out/artifacts/session-crash-...
#
# Environment: CLANG (default clang), FUZZ_KNOWN_BUGS=1 to compile in
# the checks for reported, not yet fixed bugs, FUZZ_ARGS for more
# libFuzzer options (e.g. -jobs=4 -workers=4).
set -u

secs=${1:-60}
[ $# -gt 0 ] && shift
case $secs in
*[!0-9]* | '') echo "usage: $0 [SECONDS [NAME...]]" >&2; exit 2 ;;
esac

cd "$(dirname "$0")/../.." || exit 2
cc=${CLANG:-clang}
out=fuzz-out
cflags="-std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -D_GNU_SOURCE -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -Iinclude -Itests/fuzz -Wall -Wextra"
if [ "${FUZZ_KNOWN_BUGS:-0}" != 0 ]; then
	cflags="$cflags -DFUZZ_KNOWN_BUGS"
fi

# The smallest set of sources each harness links with.
srcs() {
	case $1 in
	smtpaddr) echo "src/smtpaddr.c src/buf.c" ;;
	data) echo "src/data.c" ;;
	dnsbl) echo "src/dnsbl.c src/buf.c src/smtpaddr.c" ;;
	config) echo "src/config.c src/filterconn.c src/dnsbl.c src/tables.c src/strindex.c src/maildir.c src/dirsync.c src/smtpaddr.c src/buf.c" ;;
	proxy) echo "src/proxy.c src/config.c src/filterconn.c src/dnsbl.c src/tables.c src/strindex.c src/maildir.c src/dirsync.c src/linebuf.c src/buf.c src/smtpaddr.c src/sockaddr.c" ;;
	esmtp) echo "src/esmtp.c src/smtpaddr.c src/buf.c src/reply.c" ;;
	route) echo "src/recipient.c src/config.c src/filterconn.c src/dnsbl.c src/tables.c src/strindex.c src/maildir.c src/dirsync.c src/smtpaddr.c src/buf.c src/reply.c" ;;
	dns) echo "src/dns.c src/buf.c -lresolv" ;;
	policy) echo "src/policy.c src/filterconn.c src/log.c src/buf.c" ;;
	xclient) echo "src/xclient.c src/config.c src/filterconn.c src/dnsbl.c src/tables.c src/strindex.c src/maildir.c src/dirsync.c src/smtpaddr.c src/buf.c" ;;
	milter) echo "src/milter.c src/buf.c src/log.c src/filterconn.c src/sockaddr.c" ;;
	session) for f in src/*.c; do [ "$f" = src/main.c ] || printf '%s ' "$f"; done
		echo "-lresolv" ;;
	# metrics.c reads every module's counters: it links them all.
	metrics) for f in src/*.c; do [ "$f" = src/main.c ] || printf '%s ' "$f"; done
		echo "-lresolv" ;;
	*) return 1 ;;
	esac
}

# libFuzzer options of one harness.
opts() {
	case $1 in
	session) echo "-close_fd_mask=2" ;;
	esac
}

names=${*:-smtpaddr data config proxy esmtp route dnsbl dns session policy metrics xclient milter}
mkdir -p "$out/artifacts" "$out/corpus" || exit 2
failed=""

for name in $names; do
	if ! s=$(srcs "$name"); then
		echo "$name: no such harness" >&2
		failed="$failed $name"
		continue
	fi
	bin=$out/fuzz_$name
	echo "== build $bin"
	# shellcheck disable=SC2086
	if ! $cc $cflags -o "$bin" "tests/fuzz/fuzz_$name.c" $s; then
		echo "== $name: BUILD FAILED"
		failed="$failed $name"
		continue
	fi
	corpus=$out/corpus/$name
	rm -rf "$corpus"
	mkdir -p "$corpus"
	if [ -d "tests/fuzz/corpus/$name" ]; then
		cp "tests/fuzz/corpus/$name"/* "$corpus"/ 2>/dev/null
	fi
	dict=""
	[ -f "tests/fuzz/$name.dict" ] && dict="-dict=tests/fuzz/$name.dict"
	echo "== fuzz $name for ${secs}s"
	# shellcheck disable=SC2086,SC2046
	"$bin" -max_total_time="$secs" -max_len=4096 -timeout=10 \
	    -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix="$out/artifacts/$name-" $dict $(opts "$name") ${FUZZ_ARGS:-} \
	    "$corpus" >"$out/$name.log" 2>&1
	rc=$?
	grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)' \
	    "$out/$name.log" | sed "s/^/   $name: /"
	if [ $rc -ne 0 ]; then
		echo "== $name: FAILED (exit $rc); the end of $out/$name.log:"
		tail -n 40 "$out/$name.log"
		failed="$failed $name"
	else
		echo "== $name: ok"
	fi
done

if [ -n "$failed" ]; then
	echo "fuzz: FAILED:$failed"
	exit 1
fi
echo "fuzz: all passed"
exit 0
