# helpers.bash - shared by every bats suite: `load helpers` at the top.
# Tools come from the staged install on PATH (see tests/run).
bats_require_minimum_version 1.5.0
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

FMNIST=${NASH_FMNIST:-/usr/share/datasets/fashion-mnist}

# One clear error line from TOOL on stderr and the expected exit status.
# Use after: run --separate-stderr TOOL ...
assert_error_line() { # TOOL [STATUS]
	local tool=$1 want=${2:-1}
	if [ "$status" -ne "$want" ]; then
		echo "exit status $status, expected $want; stderr: $stderr" >&2
		return 1
	fi
	local lines
	lines=$(printf '%s\n' "$stderr" | grep -c . || true)
	if [ "$want" -eq 1 ] && [ "$lines" -ne 1 ]; then
		echo "expected one stderr line, got $lines: $stderr" >&2
		return 1
	fi
	case "$stderr" in
	"$tool: "*) ;;
	*) echo "stderr does not start with '$tool: ': $stderr" >&2; return 1 ;;
	esac
}

# A stream of bytes that is cut inside its first record.
truncate_stream() { # FILE BYTES
	head -c "$2" "$1"
}
