#!/bin/sh
# valgrind-pipeline.sh: the whole pipeline, every tool under valgrind's
# memcheck with full leak checking, on the tools found on PATH:
#
#   nash-gen | nash-quant | nash-train (one step) | nash-stream | nash-est
#            | nash-hls | nash-pareto --plot
#
# Each tool reads the previous one's output from a file, so every run is
# checked on its own; any invalid access, use of an uninitialised value or
# leak (definite, indirect or possible) fails with that tool's report.
# Suppressions: tests/valgrind.supp (third-party JIT code only).
# Run by `make check-valgrind`.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
# one thread: valgrind serialises threads anyway, and the report is stable
export OMP_NUM_THREADS=1
fails=0

vg() { # NAME OUT CMD...: run CMD under memcheck, stdout to OUT
	name=$1 out=$2
	shift 2
	start=$(date +%s)
	if valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
		--show-leak-kinds=definite,indirect,possible --track-origins=yes \
		--suppressions="$here/valgrind.supp" --error-exitcode=99 \
		--log-file="$name.vg" "$@" >"$out" 2>"$name.err"; then
		echo "valgrind $name: clean ($(($(date +%s) - start)) s)"
	else
		rc=$?
		if [ $rc -eq 99 ]; then
			echo "valgrind $name: ERRORS"
			sed 's/^/  | /' "$name.vg"
		else
			echo "valgrind $name: the tool failed (exit $rc)"
			sed 's/^/  | /' "$name.err" "$name.vg"
		fi
		fails=$((fails + 1))
	fi
}

vg nash-gen gen.nash nash-gen tfc
vg nash-quant quant.nash nash-quant --preset w1a1 gen.nash
vg nash-train train.nash nash-train --data fashion-mnist --limit 64 --batch 64 --epochs 1 -j 1 -q quant.nash
vg nash-stream stream.nash nash-stream -q train.nash
vg nash-est est.nash nash-est --fps 3000 --best-effort -q stream.nash
vg nash-hls hls.nash nash-hls -o proj.tar.gz -n 2 -t 1 -q est.nash
vg nash-pareto pareto.tsv nash-pareto --plot front.png -q hls.nash

# the pipeline's products are real
[ -s proj.tar.gz ] && [ -s front.png ] && grep -q '^tfc-w1a1' pareto.tsv ||
	{ echo "valgrind pipeline: missing products"; fails=$((fails + 1)); }
echo "valgrind pipeline: $fails tool(s) with errors"
[ $fails -eq 0 ]
