#!/usr/bin/env bats
# nash-pareto: ranks, objectives from meta, TSV, hypervolume, plots, pipelines, errors.
load helpers

# One graph record on stdout: y = Gemm(x[4], fc.w[width x 4]) carrying the
# meta given as PATH=VALUE (VALUE: integer, number, f32:NUMBER or string).
# Perl is on every Debian system; the core has no JSON-to-stream tool.
write_mkgraph() {
	cat >"$1" <<'EOF'
use strict; use warnings;
sub str { my $s = shift; my $n = length $s;
	$n < 32 ? chr(0xa0 | $n) . $s : "\xd9" . chr($n) . $s }
sub int_ { my $v = shift; $v >= 0 && $v < 128 ? chr($v) : "\xd3" . pack("q>", $v) }
sub num { my $v = shift;
	return "\xca" . pack("f>", $1) if $v =~ /^f32:(.*)$/;
	return int_($v) if $v =~ /^-?\d+$/;
	return "\xcb" . pack("d>", $v) if $v =~ /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
	return str($v) }
sub map_ { my @kv = @_; chr(0x80 | (@kv / 2)) . join("", @kv) }
sub arr { chr(0x90 | scalar @_) . join("", @_) }
my $name = shift @ARGV;
my ($width, $version) = (3, 1);
my %tree;
for (@ARGV) {
	my ($k, $v) = /^([^=]+)=(.*)$/ or die "bad argument $_\n";
	if ($k eq 'width') { $width = $v; next }
	if ($k eq 'version') { $version = $v; next }
	my @p = split /\./, $k;
	my $h = \%tree;
	for my $i (0 .. $#p - 1) {
		push @{$h->{_order}}, $p[$i] unless exists $h->{$p[$i]};
		$h = $h->{$p[$i]} //= {};
	}
	push @{$h->{_order}}, $p[-1] unless exists $h->{$p[-1]};
	$h->{$p[-1]} = $v;
}
sub enc { my $h = shift;
	map_(map { (str($_), ref $h->{$_} ? enc($h->{$_}) : num($h->{$_})) } @{$h->{_order} // []}) }
my $data = "\0" x (16 * $width);
binmode STDOUT;
print map_(
	str("nash"), int_($version), str("kind"), str("graph"), str("name"), str($name),
	str("inputs"), arr(map_(str("name"), str("x"), str("shape"), arr(int_(4)), str("dtype"), str("float32"))),
	str("outputs"), arr(map_(str("name"), str("y"))),
	str("nodes"), arr(map_(str("op"), str("Gemm"), str("name"), str("fc"), str("in"), arr(str("x"), str("fc.w")),
		str("out"), arr(str("y")), str("attr"), map_(str("transB"), int_(1)))),
	str("tensors"), map_(str("fc.w"), map_(str("dtype"), str("float32"), str("shape"), arr(int_($width), int_(4)),
		str("data"), "\xc4" . chr(length $data) . $data)),
	str("meta"), enc(\%tree));
EOF
}

mkgraph() { perl "$MKGRAPH" "$@"; }

setup_file() {
	export MKGRAPH="$BATS_FILE_TMPDIR/mkgraph.pl"
	write_mkgraph "$MKGRAPH"
	export SWEEP="$BATS_FILE_TMPDIR/sweep.nash"
	local hw='est.part=xczu7ev est.clock_mhz=200'
	{
		mkgraph resnet18-w16-w2a2 width=3 quant.preset=w2a2 train.top1=85.1 est.total.lut=20000 est.total.bram18=40 est.fps=3000 $hw
		mkgraph resnet18-nash-v1-w16-w2a2 width=4 gen.nash=v1 quant.preset=w2a2 train.top1=86.0 est.total.lut=26000 est.total.bram18=44 est.fps=2500 $hw
		mkgraph resnet18-nash-v2-w16-w2a2 width=4 gen.nash=v2 quant.preset=w2a2 train.top1=86.4 est.total.lut=23000 est.total.bram18=46 est.fps=2900 $hw
		mkgraph resnet18-nash-v3-w16-w2a2 width=4 gen.nash=v3 quant.preset=w2a2 train.top1=85.9 est.total.lut=24000 est.total.bram18=42 est.fps=2800 $hw
		mkgraph resnet18-nash-v4-w16-w2a2 width=5 gen.nash=v4 quant.preset=w2a2 train.top1=86.9 eval.top1=86.7 est.total.lut=30000 est.total.bram18=50 est.fps=2000 $hw
		mkgraph resnet18-w32-w2a2 width=6 quant.preset=w2a2 train.top1=88.0 est.total.lut=60000 est.total.bram18=90 est.fps=1000 $hw
	} >"$SWEEP"
}

setup() {
	# a directory of its own (bats keeps --separate-stderr files in the test's)
	mkdir -p "$BATS_TEST_TMPDIR/w"
	cd "$BATS_TEST_TMPDIR/w"
}

# column N of the row named NAME in the TSV on stdin
cell() { awk -F'\t' -v n="$1" -v c="$2" '$1 == n { print $c }'; }

@test "nash-pareto: --help and --version" {
	run nash-pareto --help
	assert_success
	assert_output --partial 'Usage: nash-pareto'
	assert_output --partial '--hypervolume'
	run nash-pareto --version
	assert_success
	assert_output --regexp '^nash-pareto \(nash\) [0-9]+\.[0-9]+\.[0-9]+$'
}

@test "nash-pareto: ranks a sweep of graphs by LUTs and top-1 (the default)" {
	run --separate-stderr nash-pareto "$SWEEP"
	assert_success
	assert_equal "${lines[0]}" "$(printf 'name\tfamily\tbits\tlut\ttop1\trank\tdominated_by\tdominator')"
	assert_equal "${#lines[@]}" 7
	assert_line "$(printf 'resnet18-w16-w2a2\tbaseline\tw2a2\t20000\t85.1\t1\t0\t-')"
	assert_line "$(printf 'resnet18-nash-v1-w16-w2a2\tv1\tw2a2\t26000\t86\t2\t1\tresnet18-nash-v2-w16-w2a2')"
	assert_line "$(printf 'resnet18-nash-v2-w16-w2a2\tv2\tw2a2\t23000\t86.4\t1\t0\t-')"
	assert_line "$(printf 'resnet18-nash-v3-w16-w2a2\tv3\tw2a2\t24000\t85.9\t2\t1\tresnet18-nash-v2-w16-w2a2')"
	# meta.eval.top1 (86.7) wins over meta.train.top1 (86.9)
	assert_line "$(printf 'resnet18-nash-v4-w16-w2a2\tv4\tw2a2\t30000\t86.7\t1\t0\t-')"
	assert_line "$(printf 'resnet18-w32-w2a2\tbaseline\tw2a2\t60000\t88\t1\t0\t-')"
	assert_equal "$stderr" ""
}

@test "nash-pareto: objectives from every meta source, counted params and macs, directions" {
	{
		mkgraph a width=2 train.top1=f32:90.1 train.top5=99 train.seconds=50 est.total.lut=100 est.total.ff=300 \
			est.total.bram18=4 est.total.uram=1 est.total.dsp=2 est.fps=500 est.latency_us=80
		mkgraph b width=8 train.top1=f32:91.7 train.top5=99.5 train.seconds=10 est.total.lut=100 est.total.ff=300 \
			est.total.bram18=4 est.total.uram=1 est.total.dsp=2 est.fps=500 est.latency_us=80
	} >two.nash
	run --separate-stderr nash-pareto -O top1,top5,lut,ff,bram,uram,dsp,fps,latency,params,macs,train.seconds:min two.nash
	assert_success
	assert_equal "${lines[0]}" "$(printf 'name\tfamily\tbits\ttop1\ttop5\tlut\tff\tbram18\turam\tdsp\tfps\tlatency\tparams\tmacs\ttrain.seconds\trank\tdominated_by\tdominator')"
	# a float32 top-1 prints as the float it is; params = macs = 4 x width
	assert_equal "${lines[1]}" "$(printf 'a\tbaseline\t-\t90.1\t99\t100\t300\t4\t1\t2\t500\t80\t8\t8\t50\t1\t0\t-')"
	assert_equal "${lines[2]}" "$(printf 'b\tbaseline\t-\t91.7\t99.5\t100\t300\t4\t1\t2\t500\t80\t32\t32\t10\t1\t0\t-')"
	# with params minimised a (8) and b (more accurate) trade off; without, b wins
	run nash-pareto -O top1,lut two.nash
	assert_equal "$(cell a 6 <<<"$output")" 2
	assert_equal "$(cell a 8 <<<"$output")" b
	# directions: fps is maximised, latency minimised, both overridable
	run nash-pareto -O fps,train.seconds:max two.nash
	assert_equal "$(cell b 6 <<<"$output")" 2
	run nash-pareto -O top1:min,lut two.nash
	assert_equal "$(cell a 6 <<<"$output")" 1
	assert_equal "$(cell b 6 <<<"$output")" 2
}

@test "nash-pareto: ties, duplicates, one point, three objectives with mixed directions (TSV)" {
	printf 'name\tlut\ttop1\n' >t.tsv
	printf 'a\t10\t90\nb\t10\t90\nc\t10\t85\nd\t20\t90\ne\t5\t80\nf\t30\t70\n' >>t.tsv
	run nash-pareto t.tsv
	assert_success
	# a and b are equal: both on the front, neither dominates the other
	assert_equal "$(cut -f1,6,7 <<<"$output" | tr '\t\n' ' ;')" \
		"name rank dominated_by;a 1 0;b 1 0;c 2 2;d 2 2;e 1 0;f 3 5;"
	printf 'lut\ttop1\n7\t50\n' | nash-pareto >one.tsv
	assert_equal "$(tail -1 one.tsv)" "$(printf 'row1\tother\t-\t7\t50\t1\t0\t-')"
	printf 'name\tlut\tbram\ttop1\n' >three.tsv
	printf 'p\t1\t9\t80\nq\t2\t2\t80\nr\t2\t2\t79\ns\t3\t3\t80\nt\t1\t9\t81\n' >>three.tsv
	run nash-pareto --objectives lut:min,bram:min,top1:max three.tsv
	assert_success
	assert_equal "$(cut -f1,7,8,9 <<<"$output" | tr '\t\n' ' ;')" \
		"name rank dominated_by dominator;p 2 1 t;q 1 0 -;r 2 1 q;s 2 1 q;t 1 0 -;"
	run nash-pareto --front --objectives lut:min,bram:min,top1:max three.tsv
	assert_equal "$(cut -f1 <<<"$output" | tr '\n' ' ')" "name q t "
}

@test "nash-pareto: TSV told from a stream by its content; --tsv-in forces it; its own output reads back" {
	nash-pareto "$SWEEP" >table.tsv
	run nash-pareto <table.tsv
	assert_success
	assert_equal "$output" "$(cat table.tsv)"
	run nash-pareto --x bram --y top1 table.tsv
	assert_failure 1
	cat "$SWEEP" | nash-pareto --x bram --y top1 >b.tsv
	assert_equal "$(cell resnet18-nash-v1-w16-w2a2 4 <b.tsv)" 44
	# a header whose first letter is a byte a msgpack map may start with
	printf '\xde\x9c\tlut\ttop1\nx\t1\t2\n' >odd.tsv
	run nash-pareto odd.tsv
	assert_failure 1
	run nash-pareto --tsv-in odd.tsv
	assert_success
	assert_line --index 1 "$(printf 'row1\tother\t-\t1\t2\t1\t0\t-')"
	# graphs and tables mixed, stdin among the files
	run nash-pareto "$SWEEP" table.tsv - <"$SWEEP"
	assert_success
	assert_equal "${#lines[@]}" 19
}

@test "nash-pareto: hypervolume known by hand, 2-D and 3-D, and the default reference" {
	# boxes [1,4]x[97,96] (3) and [2,4]x[99,96] (6) overlap by 2: 7
	printf 'name\tlut\ttop1\np\t1\t97\nq\t2\t99\nr\t3\t98\n' >h.tsv
	run --separate-stderr nash-pareto -H --ref lut=4,top1=96 h.tsv
	assert_success
	assert_output 7
	assert_equal "$stderr" "nash-pareto: hypervolume 7 of 2 front points (of 3), reference lut=4,top1=96"
	run -0 nash-pareto -H -q --ref top1=96,lut=4 h.tsv
	assert_output 7
	# default: the worst value plus a tenth of the range: lut 3.2, top1 96.8;
	# 2.2 x 0.2 + 1.2 x 2.2 - 1.2 x 0.2 = 2.84
	run --separate-stderr nash-pareto -H h.tsv
	assert_output 2.84
	assert_equal "$stderr" "nash-pareto: hypervolume 2.84 of 2 front points (of 3), reference lut=3.2,top1=96.8"
	# 3-D: [0,2]^2 x [1,2] (4) and [1,2]^2 x [0,2] (2) overlap in a unit cube: 5
	printf 'a\tb\tc\n0\t0\t1\n1\t1\t0\n1\t1\t1\n' >h3.tsv
	run nash-pareto -H -q -O a:min,b:min,c:min --ref a=2,b=2,c=2 h3.tsv
	assert_output 5
	# a better sweep has a larger hypervolume under the same reference
	printf 'name\tlut\ttop1\np\t1\t98\nq\t2\t99\n' >better.tsv
	run nash-pareto -H -q --ref lut=4,top1=96 better.tsv
	assert_output 8
	# --output takes the number too
	nash-pareto -H -q --ref lut=4,top1=96 -o hv.txt h.tsv
	assert_equal "$(cat hv.txt)" 7
}

@test "nash-pareto: --plot writes png, svg and pdf, atomically" {
	run --separate-stderr nash-pareto --plot p.png "$SWEEP"
	assert_success
	assert_equal "${#lines[@]}" 7
	[ -s p.png ]
	assert_equal "$(head -c 8 p.png | od -An -tx1 | tr -d ' \n')" 89504e470d0a1a0a
	nash-pareto --x lut --y top1 --plot p.svg "$SWEEP" >/dev/null
	[ -s p.svg ]
	grep -q '<svg' p.svg
	# the names label the points, the families have keys, the front a line
	grep -q 'resnet18-nash-v2-w16-w2a2' p.svg
	grep -q '>v4<' p.svg
	grep -q 'Pareto front' p.svg
	grep -q 'xczu7ev @ 200 MHz' p.svg
	nash-pareto -O lut,top1,fps --plot p.pdf "$SWEEP" >/dev/null
	assert_equal "$(head -c 4 p.pdf)" '%PDF'
	# one point; a max/min pair (fsteps); a title
	printf 'lut\ttop1\n7\t50\n' | nash-pareto --plot one.png >/dev/null
	[ -s one.png ]
	nash-pareto --x fps --y lut --plot f.svg --title 'fps against LUTs' "$SWEEP" >/dev/null
	grep -q 'fps against LUTs' f.svg
	# names gnuplot would read as a comment or a quote
	printf 'name\tlut\ttop1\nm#1\t1\t2\nm"2\t2\t3\n' | nash-pareto --plot q.svg >/dev/null
	grep -q 'm#1' q.svg
	grep -q "m'2" q.svg
	rm q.svg
	# nothing else left in the directory
	assert_equal "$(ls | tr '\n' ' ')" "f.svg one.png p.pdf p.png p.svg "
}

@test "nash-pareto: in a pipeline after tee, and inside one with --pass" {
	run --separate-stderr bash -c "cat '$SWEEP' | tee copy.nash | nash-pareto --x lut --y top1 --plot p.png"
	assert_success
	assert_equal "${#lines[@]}" 7
	cmp copy.nash "$SWEEP"
	[ -s p.png ]
	# --pass: the graphs flow on (same graphs), the table goes to --output
	cat "$SWEEP" | nash-pareto --pass -o t.tsv --plot q.svg >out.nash
	assert_equal "$(nash-dump -j out.nash)" "$(nash-dump -j "$SWEEP")"
	assert_equal "$(wc -l <t.tsv)" 7
	[ -s q.svg ]
	run --separate-stderr nash-pareto --pass -o t.tsv <t.tsv
	assert_error_line nash-pareto 2
	assert_equal "${stderr_lines[0]}" "nash-pareto: --pass copies a graph stream, but stdin is a TSV table"
}

@test "nash-pareto: unknown objectives list what is available" {
	run --separate-stderr nash-pareto --x foo --y top1 "$SWEEP"
	assert_error_line nash-pareto 1
	assert_equal "$stderr" "nash-pareto: unknown objective 'foo' (known: top1, top5, lut, ff, bram18 (bram), uram, dsp, fps, latency, params, macs; or a meta path such as train.loss:min)"
	printf 'name\tlut\ttop1\na\t1\t2\n' >t.tsv
	run --separate-stderr nash-pareto --x foo:min --y top1 t.tsv
	assert_error_line nash-pareto 1
	assert_equal "$stderr" "nash-pareto: t.tsv: no column for objective 'foo' (columns: name, lut, top1)"
	# a column without a known direction needs one
	printf 'name\tloss\ttop1\na\t1\t2\n' >l.tsv
	run --separate-stderr nash-pareto --x loss --y top1 l.tsv
	assert_error_line nash-pareto 2
	assert_equal "${stderr_lines[0]}" "nash-pareto: objective 'loss' has no default direction: write loss:min or loss:max"
	run nash-pareto --x loss:min --y top1 l.tsv
	assert_success
}

@test "nash-pareto: graphs without the needed meta name the graph and the section" {
	mkgraph resnet18-w16 train.top1=80 >noest.nash
	run --separate-stderr nash-pareto noest.nash
	assert_error_line nash-pareto 1
	assert_equal "$stderr" "nash-pareto: graph resnet18-w16: no meta.est (run nash-est first)"
	mkgraph resnet18-w16 est.total.lut=5 >notrain.nash
	run --separate-stderr nash-pareto notrain.nash
	assert_error_line nash-pareto 1
	assert_equal "$stderr" "nash-pareto: graph resnet18-w16: no meta.eval or meta.train for top1 (run nash-train or nash-eval first)"
	run --separate-stderr nash-pareto --x dsp --y top1 "$SWEEP"
	assert_error_line nash-pareto 1
	assert_equal "$stderr" "nash-pareto: graph resnet18-w16-w2a2: no meta.est.total.dsp"
	mkgraph g train.top1=high est.total.lut=5 >str.nash
	run --separate-stderr nash-pareto str.nash
	assert_error_line nash-pareto 1
	assert_equal "$stderr" "nash-pareto: graph g: meta.train.top1 is not a number"
}

@test "nash-pareto: without gnuplot the table is still written" {
	mkdir bin
	ln -s "$(command -v nash-pareto)" bin/nash-pareto
	run --separate-stderr env PATH="$PWD/bin" nash-pareto --plot p.png "$SWEEP"
	assert_error_line nash-pareto 1
	assert_equal "$stderr" "nash-pareto: cannot plot p.png: gnuplot not found on PATH (install gnuplot-nox) (the table was written)"
	assert_equal "${#lines[@]}" 7
	[ ! -e p.png ]
	assert_equal "$(ls -A | tr '\n' ' ')" "bin "
}

@test "nash-pareto: unwritable plot paths and a failing gnuplot leave nothing behind" {
	run --separate-stderr nash-pareto --plot no/such/dir/p.png "$SWEEP"
	assert_error_line nash-pareto 1
	assert_equal "$stderr" "nash-pareto: cannot write plot no/such/dir/p.png: No such file or directory"
	assert_equal "$output" ""
	touch afile
	run --separate-stderr nash-pareto --plot afile/p.png "$SWEEP"
	assert_error_line nash-pareto 1
	assert_equal "$stderr" "nash-pareto: cannot write plot afile/p.png: Not a directory"
	mkdir d.png
	run --separate-stderr nash-pareto --plot d.png "$SWEEP"
	assert_error_line nash-pareto 1
	assert_equal "$stderr" "nash-pareto: cannot write plot d.png: it is a directory"
	# a gnuplot that writes half a file and fails; one that is killed
	mkdir bin out
	cat >bin/gnuplot <<'EOF'
#!/bin/bash
[[ $2 =~ out=\'([^\']*)\' ]] && echo half >"${BASH_REMATCH[1]}"
echo '         line 3: undefined variable: foo' >&2
exit 1
EOF
	chmod +x bin/gnuplot
	run --separate-stderr env PATH="$PWD/bin:$PATH" nash-pareto --plot out/p.png "$SWEEP"
	assert_error_line nash-pareto 1
	assert_equal "$stderr" "nash-pareto: cannot plot out/p.png: gnuplot failed (exit 1): line 3: undefined variable: foo (the table was written)"
	assert_equal "$(ls -A out)" ""
	printf '#!/bin/sh\nkill -9 $$\n' >bin/gnuplot
	run --separate-stderr env PATH="$PWD/bin:$PATH" nash-pareto --plot out/p.svg "$SWEEP"
	assert_error_line nash-pareto 1
	assert_equal "$stderr" "nash-pareto: cannot plot out/p.svg: gnuplot killed by signal 9 (the table was written)"
	assert_equal "$(ls -A out)" ""
	# --output is atomic too
	run --separate-stderr nash-pareto -o no/such/t.tsv "$SWEEP"
	assert_error_line nash-pareto 1
	assert_output ""
}

@test "nash-pareto: bad streams and tables" {
	run --separate-stderr nash-pareto </dev/null
	assert_error_line nash-pareto 1
	assert_equal "$stderr" "nash-pareto: empty input: no records on stdin"
	truncate_stream "$SWEEP" 100 >cut.nash
	run --separate-stderr nash-pareto <cut.nash
	assert_error_line nash-pareto 1
	assert_equal "$stderr" "nash-pareto: stdin: record 1: truncated (stream ends inside a record after 100 bytes)"
	run --separate-stderr bash -c "cat cut.nash | nash-pareto"
	assert_error_line nash-pareto 1
	assert_equal "$stderr" "nash-pareto: stdin: record 1: truncated (stream ends inside a record after 100 bytes)"
	mkgraph new version=2 >new.nash
	run --separate-stderr nash-pareto new.nash
	assert_error_line nash-pareto 1
	assert_equal "$stderr" "nash-pareto: new.nash: record 1: format version 2 is newer than this nash reads (1); upgrade nash"
	printf 'lut\ttop1\n1\tx\n' >bad.tsv
	run --separate-stderr nash-pareto bad.tsv
	assert_error_line nash-pareto 1
	assert_equal "$stderr" "nash-pareto: bad.tsv:2: column top1: 'x' is not a number"
	printf 'lut\ttop1\n1\n' >short.tsv
	run --separate-stderr nash-pareto short.tsv
	assert_equal "$stderr" "nash-pareto: short.tsv:2: 1 fields, the header has 2"
	printf 'lut\ttop1\n' >header.tsv
	run --separate-stderr nash-pareto header.tsv
	assert_error_line nash-pareto 1
	assert_equal "$stderr" "nash-pareto: no points: the input holds no graphs or rows"
	run --separate-stderr nash-pareto missing.nash
	assert_error_line nash-pareto 1
	assert_equal "$stderr" "nash-pareto: missing.nash: No such file or directory"
}

@test "nash-pareto: usage errors exit 2" {
	for args in "--x lut" "--y top1" "--x lut --y top1 -O lut,top1" "--x lut:up --y top1" \
		"-O lut,lut" "--plot p.jpg" "-O lut --plot p.png" "--ref lut=3" "-H --ref foo=3" \
		"-H --ref lut=abc" "--title t" "--bogus"; do
		run --separate-stderr nash-pareto $args "$SWEEP"
		assert_equal "$status" 2
		assert_equal "${stderr%%: *}" nash-pareto
	done
	[ ! -e p.png ]
}

@test "nash-pareto: the man page's examples run" {
	# EXAMPLES of nash-pareto(1), verbatim
	printf 'name\tfamily\tlut\ttop1\n'  >sweep.tsv
	printf 'base\tbaseline\t20000\t85.1\n' >>sweep.tsv
	printf 'nash2\tv2\t23000\t86.4\n' >>sweep.tsv
	printf 'nash1\tv1\t26000\t86.0\n' >>sweep.tsv
	run nash-pareto --x lut --y top1 sweep.tsv
	assert_success
	# the table the page shows, tabs for its blanks
	assert_output "$(printf '%s\n' \
		'name   family    bits  lut    top1  rank  dominated_by  dominator' \
		'base   baseline  -     20000  85.1  1     0             -' \
		'nash2  v2        -     23000  86.4  1     0             -' \
		'nash1  v1        -     26000  86    2     1             nash2' | tr -s ' ' '\t')"
	run --separate-stderr nash-pareto --hypervolume --ref lut=30000,top1=80 sweep.tsv
	assert_success
	# 10000 x 5.1 + 7000 x 6.4 - 7000 x 5.1
	assert_output 60100
	run nash-pareto --plot front.svg sweep.tsv
	assert_success
	[ -s front.svg ]
	cp "$SWEEP" v2.nash
	run bash -c "nash-pareto --pass --plot p.png -o v2.tsv <v2.nash | nash-dump"
	assert_success
	assert_equal "${#lines[@]}" 6
	run nash-pareto --front -O lut,bram,top1,fps v2.nash
	assert_success
}

@test "nash-pareto: 10,000 rows go through quickly and stay consistent" {
	awk 'BEGIN { srand(3); print "name\tlut\ttop1\tlatency";
		for (i = 1; i <= 10000; i++) printf "m%d\t%d\t%.2f\t%d\n", i, int(rand() * 1e5), 50 + rand() * 50, int(rand() * 1e3) }' >big.tsv
	run nash-pareto -O lut,top1,latency big.tsv
	assert_success
	assert_equal "${#lines[@]}" 10001
	# every dominator is on the front and beats its point in each objective
	bad=$(awk -F'\t' 'NR > 1 { lut[$1] = $4; top[$1] = $5; lat[$1] = $6; rank[$1] = $7; dom[$1] = $9; n[NR] = $1 }
		END { for (i in n) { p = n[i]; d = dom[p]; if (rank[p] == 1) { if (d != "-") bad++; continue }
			if (rank[d] != 1 || lut[d] > lut[p] || top[d] < top[p] || lat[d] > lat[p]) bad++ } print bad + 0 }' <<<"$output")
	assert_equal "$bad" 0
}
