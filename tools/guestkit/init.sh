#!/bin/sh
# /init of isola's default guest (busybox sh, PID 1 inside the initramfs).
#
# Sets up the pseudo file systems, loads the virtio modules listed at build time, prints the
# boot marker, then either runs the command given on the kernel command line or starts an
# interactive shell on the console. Either way the VM powers off at the end. The command
# convention (isola.cmd64=, isola.cmd=, " -- ") is documented in tools/guestkit/README.md.
#
# PID 1 must never exit (the kernel panics when it does), so nothing here uses `set -e` and
# every failure is reported and stepped over.

export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
umask 022

say() { echo "isola-init: $*"; }

# Linux mounts nothing for an initramfs /init: CONFIG_DEVTMPFS_MOUNT only acts on a real root.
mount -t proc proc /proc || say "cannot mount /proc"
mount -t sysfs sysfs /sys || say "cannot mount /sys"
mount -t devtmpfs devtmpfs /dev || say "cannot mount devtmpfs on /dev"
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts || say "cannot mount /dev/pts"
mount -t tmpfs -o mode=1777 tmpfs /tmp || say "cannot mount /tmp"
mount -t tmpfs -o mode=755 tmpfs /run || say "cannot mount /run"

# Load the modules in the dependency order computed at build time (deps first). A module
# that is built into this kernel was never shipped; one that fails (already loaded, device
# absent at load time is *not* a failure for virtio drivers) is skipped without a word.
release=$(uname -r)
if [ -r /etc/isola/modules ]; then
	while read -r ko; do
		case "$ko" in ''|'#'*) continue ;; esac
		[ -f "/lib/modules/$release/$ko" ] || continue
		insmod "/lib/modules/$release/$ko" >/dev/null 2>&1
	done < /etc/isola/modules
fi

hostname isola 2>/dev/null
ip link set lo up 2>/dev/null

read -r uptime _ < /proc/uptime
echo "ISOLA-BOOT-OK uptime=$uptime"

# Power off for good. `poweroff -f` runs in a child, so if the platform has no way to power
# off (no ACPI S5), the kernel ends only that child and we are still here: fall back to a
# reset, and if even that returns, idle rather than exit (exiting PID 1 panics the kernel).
power_off() {
	poweroff -f
	say "poweroff failed (no ACPI power-off?); trying reboot -f"
	reboot -f
	say "reboot failed too; halting here"
	while :; do sleep 3600; done
}

# Finds the command for this boot in /proc/cmdline, decoded, in $cmd; returns 1 if there is
# none. Any form that is present means "run and power off", even if empty or undecodable
# (a harness must never be left at an interactive prompt). Precedence: isola.cmd64= (base64 of any shell text), then isola.cmd= (one word, or a
# double-quoted string with neither a double quote nor " -- " in it), then everything after
# the first " -- ". Parameters are looked for only before " -- ", so the command text itself
# may mention them. The kernel also hands the words after "--" to init as arguments, but
# re-joined and with its quote handling; the raw text from /proc/cmdline is what we run.
find_command() {
	read -r cmdline < /proc/cmdline
	line=" $cmdline "
	head=${line%% -- *}
	case "$head" in
	*" isola.cmd64="*)
		val=${head#* isola.cmd64=}
		val=${val%% *}
		# Accept the URL-safe alphabet too, and missing '=' padding. busybox base64 -d
		# skips junk silently, so check the alphabet first.
		val=$(printf '%s' "$val" | tr -- '-_' '+/')
		while [ $((${#val} % 4)) -ne 0 ]; do val="$val="; done
		case "$val" in
		*[!A-Za-z0-9+/=]* | *=[!=]*) cmd='' ;;
		*) cmd=$(printf '%s\n' "$val" | base64 -d 2>/dev/null) || cmd='' ;;
		esac
		if [ -z "$cmd" ] && [ "$val" != "" ]; then
			say "isola.cmd64= is not valid base64; running 'exit 127'"
			cmd='exit 127'
		fi
		;;
	*" isola.cmd=\""*)
		val=${head#* isola.cmd=\"}
		cmd=${val%%\"*}
		;;
	*" isola.cmd="*)
		val=${head#* isola.cmd=}
		cmd=${val%% *}
		;;
	*)
		[ "$head" != "$line" ] || return 1
		cmd=${line#* -- }
		cmd=${cmd% }
		;;
	esac
	return 0
}

if find_command; then
	# The command gets the console as its controlling terminal (a session of its own), so
	# Ctrl-C and programs that want a tty behave; its exit status is reported verbatim.
	setsid cttyhack sh -c "$cmd"
	status=$?
	echo "ISOLA-CMD-EXIT status=$status"
	power_off
fi

# Interactive: a login-less shell on the console with job control. ENV makes `poweroff`,
# `reboot` and `halt` act at once (busybox's plain ones only signal PID 1, which is this
# script, busy waiting for the shell).
export ENV=/etc/isola/shrc
setsid cttyhack sh
say "shell exited; powering off"
power_off
