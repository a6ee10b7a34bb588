# Shell functions the scripts share (sourced, never run): install steps that skip what is there.
# No `set` options here: each script keeps its own.
# shellcheck shell=bash

step() { printf '\n== %s\n' "$*"; }

# as_root CMD...: runs CMD as root, through sudo when we are not root.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=0
# apt_install PKG...: installs the Debian packages that are missing (apt-get update once).
apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  step "apt-get install ${missing[*]}"
  if [ "$apt_updated" -eq 0 ]; then
    as_root apt-get update -qq
    apt_updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# npm_install DIR: `npm install`, not `npm ci` (the registry here lacks other platforms'
# optional packages, so a lock file written elsewhere can fail `npm ci`).
npm_install() {
  (cd "$1" && npm install --no-audit --no-fund --loglevel=error)
}
