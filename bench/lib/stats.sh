# Statistics shared by the bench/*.sh scripts (sourced, not run). Results
# files hold one "<key> <value>" line per run and figure, in round order, so
# the i-th value of a key comes from round i. Every figure is reported as
# median [min..max] over rounds; ratios of two peers are taken per round
# (both ran in the same round, under the same host load), then summarised
# the same way.

# stats_values FILE KEY: the values recorded under KEY, ascending.
stats_values() {
	awk -v k="$2" '$1 == k { print $2 }' "$1" | sort -g
}

# stats_count FILE KEY: how many values are recorded under KEY.
stats_count() {
	awk -v k="$2" '$1 == k' "$1" | wc -l
}

# stats_summary FILE KEY: "median min max n" of the values under KEY;
# "nan nan nan 0" if there are none.
stats_summary() {
	stats_values "$1" "$2" | awk '
		{ v[++n] = $1 }
		END {
			if (!n) { print "nan nan nan 0"; exit }
			m = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
			print m, v[1], v[n], n
		}'
}

# stats_round_ratio FILE A B FORMAT [ROUNDS]: A/B per round (the i-th value
# of A over the i-th of B; rounds where B is not positive are left out),
# printed with printf FORMAT as median, min, max; "nan" if there are none.
# With ROUNDS, both keys must hold ROUNDS values: a failed run would shift
# the pairing, so then the ratio is "n/a (failed runs)".
stats_round_ratio() {
	if [ -n "${5:-}" ] && { [ "$(stats_count "$1" "$2")" != "$5" ] ||
				[ "$(stats_count "$1" "$3")" != "$5" ]; }; then
		echo "n/a (failed runs)"
		return
	fi
	awk -v a="$2" -v b="$3" '$1 == a { x[na++] = $2 } $1 == b { y[nb++] = $2 }
		END { for (i = 0; i < na && i < nb; i++) if (y[i] > 0) print x[i] / y[i] }' "$1" |
		sort -g | awk -v f="$4" '{ v[++n] = $1 }
		END {
			if (!n) { print "nan"; exit }
			m = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
			printf f, m, v[1], v[n]
		}'
}
