#!/bin/sh
# Installs the Debian packages isola needs to build, test and run its guest
# kit, as root, through apt-get. Does nothing (and needs no root) when they
# are all installed already. Packages: tools/packages.txt and
# tools/guestkit/packages.txt, one name per line, '#' starts a comment.
set -eu
cd "$(dirname "$0")/.."

wanted=$(cat tools/packages.txt tools/guestkit/packages.txt 2>/dev/null | sed 's/#.*//' | tr -s ' \t' '\n\n' | sed '/^$/d' | sort -u)
missing=""
for p in $wanted; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$status" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "isola: missing Debian packages:$missing; install them as root (apt-get install$missing) or run this as root" >&2
	exit 1
fi
echo "isola: installing Debian packages:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
if ! apt-get install -y -q --no-install-recommends $missing >"$log" 2>&1; then
	# A fresh machine may have no package lists yet.
	if ! { apt-get update -q && apt-get install -y -q --no-install-recommends $missing; } >"$log" 2>&1; then
		tail -n 20 "$log" >&2
		echo "isola: apt-get could not install:$missing (see the lines above)" >&2
		rm -f "$log"
		exit 1
	fi
fi
rm -f "$log"
