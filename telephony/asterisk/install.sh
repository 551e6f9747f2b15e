#!/usr/bin/env bash
# Prepare Asterisk 22 from Debian sid's packages in a cache folder outside the clone; idempotent.
#
# Why this way: Debian bookworm has no Asterisk package, and building it takes far longer than
# unpacking sid's. We download sid's `asterisk` with its whole dependency closure through a
# PRIVATE apt configuration (own sources list, lists, status and cache directories), so the
# host's apt sources and libraries are never touched, and `dpkg -x` the packages into
#   $GOVBOT_CACHE/asterisk-<hash>/root
# keyed on the hash of this script and the package list. sid's binaries need sid's glibc, so
# Asterisk runs through the sid loader inside that folder (see telephony/asterisk/paths.py).
# Prints the prefix on stdout; a second run with the same key returns at once.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
CACHE="${GOVBOT_CACHE:-$HOME/.cache/govbot}"
PACKAGES=(asterisk asterisk-core-sounds-en-gsm)
SUITE="sid"
KEY="$(cat "$0" <(printf '%s\n' "${PACKAGES[@]}" "$SUITE") | sha256sum | cut -c1-12)"
DIR="$CACHE/asterisk-$KEY"
PREFIX="$DIR/root"

log() { printf '[asterisk] %s\n' "$*" >&2; }

if [ -f "$DIR/.complete" ]; then
  echo "$PREFIX"
  exit 0
fi

# The mirror the host's apt already uses (deb822 or one-line sources), reused for sid.
host_mirror() {
  local uri
  uri="$(grep -hsE '^\s*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '{print $2}' | grep -v -- '-security' | head -n1 || true)"
  if [ -z "$uri" ]; then
    uri="$(grep -hsE '^\s*deb\s' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
          | sed -E 's/\[[^]]*\]//' | awk '{print $2}' | grep -v -- '-security' | head -n1 || true)"
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

start=$SECONDS
MIRROR="${GOVBOT_DEBIAN_MIRROR:-$(host_mirror)}"
WORK="$DIR.partial"
rm -rf "$WORK"
mkdir -p "$WORK"/apt/{lists/partial,archives/partial,etc/preferences.d,etc/apt.conf.d} "$WORK/root"
: > "$WORK/apt/status"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
echo "deb [signed-by=$KEYRING] $MIRROR $SUITE main" > "$WORK/apt/etc/sources.list"
APT_OPTS=(
  -o "Dir::Etc::SourceList=$WORK/apt/etc/sources.list"
  -o "Dir::Etc::SourceParts=-"
  -o "Dir::Etc::Preferences=-"
  -o "Dir::Etc::PreferencesParts=$WORK/apt/etc/preferences.d"
  -o "Dir::Etc::Parts=$WORK/apt/etc/apt.conf.d"
  -o "Dir::State::Lists=$WORK/apt/lists"
  -o "Dir::State::status=$WORK/apt/status"
  -o "Dir::Cache=$WORK/apt/cache"
  -o "Dir::Cache::Archives=$WORK/apt/archives"
  -o "APT::Architecture=amd64"
  -o "APT::Architectures=amd64"
  -o "APT::Install-Recommends=false"
  -o "APT::Sandbox::User=root"
  -o "Acquire::Check-Valid-Until=false"
  -o "Acquire::Languages=none"
  -o "Debug::NoLocking=true"
)
log "downloading sid's ${PACKAGES[*]} and dependencies from $MIRROR (private apt in $WORK/apt)"
apt-get "${APT_OPTS[@]}" -qq update >&2
apt-get "${APT_OPTS[@]}" -qq -y --download-only install "${PACKAGES[@]}" >&2

log "unpacking $(ls "$WORK"/apt/archives/*.deb | wc -l) packages"
for deb in "$WORK"/apt/archives/*.deb; do
  dpkg -x "$deb" "$WORK/root"
done
# dpkg -x does not run maintainer scripts: the English sounds link is ours to make.
SOUNDS="$WORK/root/usr/share/asterisk/sounds"
if [ -d "$SOUNDS/en_US_f_Allison" ] && [ ! -e "$SOUNDS/en" ]; then
  ln -s en_US_f_Allison "$SOUNDS/en"
fi
mkdir -p "$SOUNDS/en"
rm -rf "$WORK/apt/archives" "$WORK/apt/lists"

LOADER="$WORK/root/usr/lib64/ld-linux-x86-64.so.2"
[ -x "$LOADER" ] || LOADER="$WORK/root/lib64/ld-linux-x86-64.so.2"
LIBS="$WORK/root/usr/lib/x86_64-linux-gnu:$WORK/root/lib/x86_64-linux-gnu"
version="$("$LOADER" --library-path "$LIBS" "$WORK/root/usr/sbin/asterisk" -V)"
log "$version"

rm -rf "$DIR"
mv "$WORK" "$DIR"
touch "$DIR/.complete"
log "prepared in $((SECONDS - start)) s: $DIR"
echo "$PREFIX"
