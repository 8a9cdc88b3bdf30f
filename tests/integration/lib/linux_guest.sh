# Sourced by the integration tests that boot the guest kit's Debian kernel on
# the soft CPU (not a test itself: tests/run.sh runs only tests/integration/*.sh).
#
# linux_guest_ready SUITE: 0 if $ISOLA can boot the kit in $KIT on soft in
# useful time; otherwise prints one "SKIP: SUITE/all (why)" (or FAIL if isola
# is not built) and returns 1. Under ASan a boot takes minutes, so such a build
# is skipped unless LINUX_SOFT_SANITIZED=1, and then LINUX_GUEST_SANITIZED=1
# tells the caller to allow more time.
LINUX_GUEST_SANITIZED=0
linux_guest_ready() {
	if [ ! -f "$KIT/vmlinuz" ] || [ ! -f "$KIT/initrd.img" ]; then
		echo "SKIP: $1/all (no guest kit in $KIT: make guestkit)"
		return 1
	fi
	if [ ! -x "$ISOLA" ]; then
		echo "FAIL: $1/all (no $ISOLA)"
		return 1
	fi
	case "$("$ISOLA" run --accel soft --kernel /nonexistent 2>&1 </dev/null)" in
	*"--accel soft:"*) echo "SKIP: $1/all (no soft CPU in this build)"; return 1 ;;
	esac
	if grep -q __asan_init "$ISOLA" 2>/dev/null; then
		if [ "${LINUX_SOFT_SANITIZED:-0}" != 1 ]; then
			echo "SKIP: $1/all (isola is built with ASan: LINUX_SOFT_SANITIZED=1 boots Linux anyway, in minutes)"
			return 1
		fi
		LINUX_GUEST_SANITIZED=1
	fi
	return 0
}
