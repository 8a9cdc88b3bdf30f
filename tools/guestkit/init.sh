#!/bin/sh
# /init of isola's default guest (busybox sh, PID 1 inside the initramfs), and /sbin/init of
# the root images tools/mkroot.sh makes (the same file).
#
# Sets up the pseudo file systems, loads the virtio modules listed at build time, joins the
# console the kernel was given (ttyS0 or hvc0), and, if the command line names a root= file
# system, mounts it and switch_roots to its init. Otherwise (or when this is that init) it
# prints the boot marker, then either runs the command given on the kernel command line or
# starts an interactive shell on the console. Either way the VM powers off at the end. The
# conventions (isola.cmd64=, isola.cmd=, " -- ", root=) are documented in
# tools/guestkit/README.md.
#
# PID 1 must never exit (the kernel panics when it does), so nothing here uses `set -e` and
# every failure is reported and stepped over.

export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
umask 022

say() { echo "isola-init: $*"; }

# Linux mounts nothing for an initramfs /init: CONFIG_DEVTMPFS_MOUNT only acts on a real root.
# After a switch_root the initramfs has moved /proc, /sys, /dev and /run here already.
mounted() { [ -r /proc/mounts ] && grep -q "^[^ ]* $1 " /proc/mounts; }
mnt() { # TYPE OPTIONS DIR
	mounted "$3" && return 0
	mkdir -p "$3" 2>/dev/null
	mount -t "$1" -o "$2" "$1" "$3" || say "cannot mount $1 on $3"
}
mnt proc defaults /proc
mnt sysfs defaults /sys
mnt devtmpfs defaults /dev
mkdir -p /dev/pts /dev/shm
mnt devpts gid=5,mode=620,ptmxmode=666 /dev/pts
mnt tmpfs mode=1777 /tmp
mnt tmpfs mode=755 /run

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

# With console=hvc0 the kernel had no console device when it started us (hvc0 appears with the
# virtio_console module, just loaded), so stdin, stdout and stderr may be closed: join
# /dev/console now, which is hvc0 from here on (or ttyS0, as before). Tried in a subshell
# first: a failed redirection on `exec` would end PID 1.
if (: </dev/console >/dev/console) 2>/dev/null; then
	exec </dev/console >/dev/console 2>&1
fi

# The words of the kernel command line before " -- " (the kernel's parameters).
kernel_params() {
	read -r cmdline < /proc/cmdline
	line=" $cmdline "
	echo "${line%% -- *}"
}

# root=DEV on the command line: mount it and switch_root to its init (once: the new init,
# which may be this script again, sees ISOLA_ROOT_DONE in its environment). rootfstype=
# (default ext4), ro/rw (default rw), rootdelay= (seconds to wait for the device, default
# 10) and init= (default /sbin/init, then /init) are honoured. If anything fails, the boot
# goes on in the initramfs and says why.
switch_to_root() {
	root='' fstype=ext4 mode=rw delay=10 rinit=''
	[ $$ -eq 1 ] || return 0 # switch_root only works for PID 1
	set -f # no globbing of the command line's words
	for w in $(kernel_params); do
		case "$w" in
		root=*) root=${w#root=} ;;
		rootfstype=*) fstype=${w#rootfstype=} ;;
		ro) mode=ro ;;
		rw) mode=rw ;;
		rootdelay=*) delay=${w#rootdelay=} ;;
		init=*) rinit=${w#init=} ;;
		esac
	done
	set +f
	[ -n "$root" ] || return 0
	case "$delay" in ''|*[!0-9]*) delay=10 ;; esac
	# The virtio_blk module is loaded above; its disk's node appears in devtmpfs when the
	# driver has probed it. Wait for it, at most rootdelay seconds.
	i=0
	while [ ! -b "$root" ] && [ $i -lt $((delay * 10)) ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if [ ! -b "$root" ]; then
		say "root=$root: no such block device after ${delay}s; staying in the initramfs"
		return 1
	fi
	mkdir -p /newroot
	if ! mount -t "$fstype" -o "$mode" "$root" /newroot; then
		say "root=$root: cannot mount it as $fstype ($mode); staying in the initramfs"
		return 1
	fi
	if [ -z "$rinit" ]; then
		for c in /sbin/init /init; do
			if [ -x "/newroot$c" ] || [ -L "/newroot$c" ]; then rinit=$c; break; fi
		done
	fi
	if [ -z "$rinit" ] || { [ ! -x "/newroot$rinit" ] && [ ! -L "/newroot$rinit" ]; }; then
		say "root=$root: no /sbin/init or /init on it (or init=${rinit:-?} missing); staying in the initramfs"
		umount /newroot
		return 1
	fi
	# Hand the pseudo file systems over (devpts moves with /dev); /tmp is the initramfs's.
	for m in /dev /proc /sys /run; do
		if [ -d "/newroot$m" ]; then
			mount -o move "$m" "/newroot$m" 2>/dev/null || umount -l "$m" 2>/dev/null
		else
			umount -l "$m" 2>/dev/null
		fi
	done
	umount -l /tmp 2>/dev/null
	export ISOLA_ROOT_DONE=1
	# switch_root empties the initramfs, makes /newroot the root and execs its init as PID 1.
	exec switch_root /newroot "$rinit"
}
if [ -z "${ISOLA_ROOT_DONE:-}" ]; then
	switch_to_root
fi

hostname isola 2>/dev/null
ip link set lo up 2>/dev/null

read -r uptime _ < /proc/uptime
echo "ISOLA-BOOT-OK uptime=$uptime"

# Power off for good. `poweroff -f` runs in a child, so if the platform has no way to power
# off (no ACPI S5), the kernel ends only that child and we are still here: fall back to a
# reset, and if even that returns, idle rather than exit (exiting PID 1 panics the kernel).
power_off() {
	# On a disk root, leave the file system clean: write everything out and remount it
	# read-only (poweroff -f syncs, but does not unmount).
	sync
	mount -o remount,ro / 2>/dev/null
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
