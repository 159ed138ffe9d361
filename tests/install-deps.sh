#!/bin/sh
# install-deps.sh PKG...: installs the Debian packages that are missing.
# A fast no-op when all are present; runs `apt-get update` once before
# installing; uses sudo when not root.
missing=""
for p in "$@"; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)
    case "$st" in *"install ok installed"*) ;; *) missing="$missing $p" ;; esac
done
[ -z "$missing" ] && exit 0
echo "make deps: installing$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q || exit 1
$SUDO apt-get install -y -q --no-install-recommends $missing || exit 1
