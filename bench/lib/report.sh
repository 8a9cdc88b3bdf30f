# The report helpers of the bench/*.sh scripts that print a results table
# and can write it into BENCHMARKS.md (sourced, not run); brings in
# bench/lib/stats.sh too.
. "$(dirname "${BASH_SOURCE[0]}")/stats.sh"

# report_failed_runs FILE: the runs left out of the figures, one per line of
# FILE, or "none".
report_failed_runs() {
	if [ -s "$1" ]; then
		echo "Failed runs (left out of the figures):"
		sed 's/^/  /' "$1"
	else
		echo "Failed runs: none"
	fi
}

# md_results_block MD NAME FILE: replaces the block of MD between the lines
# "<!-- NAME results: begin -->" and "<!-- NAME results: end -->" (both kept)
# with FILE's contents as a ``` block. Returns 1 and changes nothing if MD
# lacks either marker. MD is rewritten in place (same file, same mode).
md_results_block() {
	local md=$1 begin="<!-- $2 results: begin -->" end="<!-- $2 results: end -->" tmp
	grep -qF "$begin" "$md" 2>/dev/null && grep -qF "$end" "$md" || return 1
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/isola-mdblock.XXXXXX") || return 1
	{
		echo "$begin"
		echo '```'
		cat "$3"
		echo '```'
		echo "$end"
	} >"$tmp/block"
	awk -v b="$begin" -v e="$end" -v f="$tmp/block" '
		$0 == b { while ((getline l < f) > 0) print l; skip = 1; next }
		$0 == e { skip = 0; next }
		!skip' "$md" >"$tmp/md" && cat "$tmp/md" >"$md"
	local rc=$?
	rm -rf "$tmp"
	return $rc
}

# report_publish FILE NAME WRITE NOTE: runs the caller's report function,
# printing its output and saving it to FILE, then says so on stderr with
# NOTE; with WRITE=1 also writes it into BENCHMARKS.md's NAME results block.
# Returns 1 if BENCHMARKS.md has no such block.
report_publish() {
	report | tee "$1"
	echo "(saved to $1$4)" >&2
	[ "$3" = 1 ] || return 0
	md_results_block BENCHMARKS.md "$2" "$1" || return 1
	echo "(results written into BENCHMARKS.md)" >&2
}
