#!/usr/bin/env bats
# The examples as a user runs them: the Fashion-MNIST experiment (a tiny
# configuration of it), its cron runner, GNU parallel on this machine and
# the Slurm driver against a fake sbatch.

load helpers

EX=${NASH_SRC:-$BATS_TEST_DIRNAME/..}/examples
# two models, width 4, a few hundred images: seconds, not minutes
TINY=(VERSIONS="base v1" WIDTHS=4 BITS=w2a2 SEARCH_EPOCHS=1 SEARCH_LIMIT=256
	TRAIN_EPOCHS=1 TRAIN_LIMIT=256 FPS=1000)

setup_file() {
	export T=$BATS_FILE_TMPDIR
	make -s -C "$EX/fashion-mnist" OUT="$T/out" "${TINY[@]}" -j2 all >"$T/make.log" 2>&1 \
		|| { cat "$T/make.log" >&3; return 1; }
}

@test "experiment: one row per model with top-1, LUT, BRAM, DSP, fps and a front rank" {
	run cat "$T/out/results.tsv"
	assert_success
	head=$(head -n 1 "$T/out/results.tsv")
	for col in name family top1 lut bram18 dsp fps rank; do
		[[ $'\t'"$head"$'\t' == *$'\t'"$col"$'\t'* ]] || { echo "no column $col in: $head"; return 1; }
	done
	[ "$(tail -n +2 "$T/out/results.tsv" | wc -l)" -eq 2 ]
	# the models are named after version, width and bits; top-1 is a percentage
	awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
		$c["name"] !~ /w4/ || $c["top1"] < 0 || $c["top1"] > 100 || $c["lut"] <= 0 || $c["rank"] < 1 { bad = 1 }
		$c["rank"] == 1 { front++ }
		END { exit bad || !front }' "$T/out/results.tsv"
}

@test "experiment: the plot is a PNG" {
	run sh -c "head -c 8 '$T/out/pareto.png' | od -An -tx1 | tr -d ' \\n'"
	assert_output 89504e470d0a1a0a
}

@test "experiment: every intermediate is a file; nothing temporary is left" {
	for m in base-w4-w2a2 v1-w4-w2a2; do
		[ -s "$T/out/qat/$m.nash" ] && [ -s "$T/out/hw/$m.nash" ]
	done
	[ -s "$T/out/net/base-w4.nash" ] && [ -s "$T/out/net/v1-w4.nash" ]
	run find "$T/out" -name '*.tmp' -o -name '*.ckpt'
	assert_output ""
	# the derived network carries its genotype
	run nash-dump --meta search.genotype "$T/out/net/v1-w4.nash"
	assert_success
	assert_output --regexp $'^resnet18-nash-v1-w4[^\t]*\t"[a-z0-9_@,/-]+"$'
}

@test "experiment: an interrupted run redoes only what is missing" {
	rm "$T/out/hw/v1-w4-w2a2.nash" "$T/out/results.tsv"
	run make -n -s -C "$EX/fashion-mnist" OUT="$T/out" "${TINY[@]}" all
	assert_success
	assert_output --partial "hw/v1-w4-w2a2.nash"
	refute_output --partial "nash-train"
	refute_output --partial "nash-gen"
	make -s -C "$EX/fashion-mnist" OUT="$T/out" "${TINY[@]}" all >/dev/null 2>&1
	[ -s "$T/out/results.tsv" ] && [ -s "$T/out/hw/v1-w4-w2a2.nash" ]
}

@test "experiment: make models and make nets list the configuration" {
	run make -s -C "$EX/fashion-mnist" "${TINY[@]}" models
	assert_output $'base-w4-w2a2\nv1-w4-w2a2'
	run make -s -C "$EX/fashion-mnist" WIDTHS="16 32" BITS="w2a2 w4a4" nets
	[ "${#lines[@]}" -eq 10 ]
}

@test "nash-sweep: runs from cron, logs, marks success, and a second copy exits at once" {
	cp -r "$T/out" "$T/sweep-out"
	rm "$T/sweep-out/results.tsv"
	run env -i PATH="$PATH" HOME="$T" sh "$EX/sweep-cron/nash-sweep" -d "$EX/fashion-mnist" \
		-l "$T/logs" -- OUT="$T/sweep-out" "${TINY[@]}" all
	assert_success
	assert_output ""
	[ -e "$T/logs/last-success" ] && [ -s "$T/sweep-out/results.tsv" ]
	grep -q '^# nash-sweep .* exit 0$' "$T/logs/latest.log"
	# while one copy holds the lock, another leaves without a run or a log
	nlogs=$(ls "$T/logs"/sweep-*.log | wc -l)
	flock "$T/logs/.lock" sleep 3 &
	sleep 0.5
	run sh "$EX/sweep-cron/nash-sweep" -d "$EX/fashion-mnist" -l "$T/logs" -- OUT="$T/sweep-out" "${TINY[@]}" all
	wait
	assert_success
	[ "$(ls "$T/logs"/sweep-*.log | wc -l)" -eq "$nlogs" ]
}

@test "nash-sweep: a failing run exits 1 and keeps the log" {
	run sh "$EX/sweep-cron/nash-sweep" -d "$EX/fashion-mnist" -l "$T/logs2" -- OUT="$T/bad" \
		"${TINY[@]}" DATA=mnist:"$T/no-such-dir" all
	assert_failure 1
	grep -q 'no-such-dir' "$T/logs2/latest.log"
	[ ! -e "$T/logs2/last-success" ]
}

@test "nash-sweep: no experiment directory is one clear line" {
	run --separate-stderr sh "$EX/sweep-cron/nash-sweep" -d "$T/nowhere"
	assert_failure 1
	[[ $stderr == "nash-sweep: "*"no Makefile"* ]]
}

@test "nash-parallel: the sweep through GNU parallel on this machine gives the same table" {
	command -v parallel >/dev/null || skip "GNU parallel is not installed"
	# a copy of the experiment, so parallel ships and returns files as it would between hosts
	mkdir -p "$T/par"
	cp "$EX/fashion-mnist/Makefile" "$T/par/"
	run bash "$EX/distributed/nash-parallel" -S 2/: -d "$T/par" OUT=out "${TINY[@]}"
	assert_success
	[ -s "$T/par/out/results.tsv" ] && [ -s "$T/par/out/pareto.png" ]
	[ "$(tail -n +2 "$T/par/out/results.tsv" | wc -l)" -eq 2 ]
	for m in base-w4-w2a2 v1-w4-w2a2; do [ -s "$T/par/out/hw/$m.nash" ]; done
	# a second run finds everything done and only remakes nothing
	run bash "$EX/distributed/nash-parallel" -S : -d "$T/par" OUT=out "${TINY[@]}"
	assert_success
	refute_output --partial "nash-train"
}

@test "nash-slurm-submit: three dependent jobs, arrays sized by nets and models" {
	mkdir -p "$T/fakebin"
	cat >"$T/fakebin/sbatch" <<-EOF
	#!/bin/sh
	n=\$(( \$(cat "$T/sbatch.n" 2>/dev/null || echo 0) + 1 ))
	echo \$n >"$T/sbatch.n"
	echo "\$*" >>"$T/sbatch.calls"
	echo 100\$n
	EOF
	chmod +x "$T/fakebin/sbatch"
	run env PATH="$T/fakebin:$PATH" bash "$EX/distributed/nash-slurm-submit" -d "$EX/fashion-mnist" \
		OUT="$T/slurm" WIDTHS="16 32" BITS="w2a2 w4a4"
	assert_success
	assert_output "1001 1002 1003"
	run cat "$T/sbatch.calls"
	assert_line --index 0 --partial "--array=0-9 "
	assert_line --index 1 --partial "--dependency=afterok:1001 --array=0-19 "
	assert_line --index 2 --partial "--dependency=afterok:1002 "
	assert_line --index 2 --partial " results "
}

@test "nash-slurm.sbatch: an array task makes its own network" {
	cp -r "$T/out" "$T/slurm-out"
	rm "$T/slurm-out/net/base-w4.nash"
	run env SLURM_ARRAY_TASK_ID=0 bash "$EX/distributed/nash-slurm.sbatch" nets "$EX/fashion-mnist" \
		OUT="$T/slurm-out" "${TINY[@]}"
	assert_success
	[ -s "$T/slurm-out/net/base-w4.nash" ]
	run bash "$EX/distributed/nash-slurm.sbatch" nets "$EX/fashion-mnist" OUT="$T/slurm-out" "${TINY[@]}"
	assert_failure
}

@test "nash-slurm-submit: without sbatch, one clear line" {
	run --separate-stderr env PATH=/usr/bin:/bin bash "$EX/distributed/nash-slurm-submit" -d "$EX/fashion-mnist"
	assert_failure 1
	[[ $stderr == "nash-slurm-submit: sbatch not found"* ]]
}
