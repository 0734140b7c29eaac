#!/usr/bin/env bash
# The system packages of scripts/system-packages.txt (PostgreSQL, LibreOffice Calc, Chromium,
# Pango and a font for the PDF brief):
#   scripts/system-packages.sh missing   -> prints the missing ones (nothing when all are there)
#   scripts/system-packages.sh install   -> installs the missing ones with apt-get (as root),
#                                           or stops with the command to run
set -euo pipefail
cd "$(dirname "$0")/.."
list=scripts/system-packages.txt

present() {  # present "cmd:initdb|file:/usr/bin/x|lib:libfoo.so.1"
  local alternative kind what
  IFS='|' read -ra alternatives <<< "$1"
  for alternative in "${alternatives[@]}"; do
    kind=${alternative%%:*}
    what=${alternative#*:}
    case "$kind" in
      cmd) command -v "$what" >/dev/null 2>&1 && return 0 ;;
      file) compgen -G "$what" >/dev/null && return 0 ;;
      lib) ldconfig -p 2>/dev/null | grep -qF "$what " && return 0 ;;
      *) echo "$list: unknown check \`$alternative\`" >&2; exit 2 ;;
    esac
  done
  return 1
}

missing() {
  local package check
  while read -r package check; do
    case "$package" in ''|'#'*) continue ;; esac
    present "$check" || printf '%s\n' "$package"
  done < "$list"
}

case "${1:-missing}" in
  missing) missing ;;
  install)
    packages=$(missing | tr '\n' ' ' | sed 's/ $//')
    [ -z "$packages" ] && exit 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "Installing the system packages the tests need: $packages"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -q
      # shellcheck disable=SC2086  # one word a package
      apt-get install -y -q --no-install-recommends $packages
    else
      echo "The tests need these system packages, which are missing: $packages" >&2
      echo "Install them (Debian or Ubuntu), then run the tests again:" >&2
      echo "  sudo apt-get install -y --no-install-recommends $packages" >&2
      exit 1
    fi
    ;;
  *) echo "usage: $0 missing|install" >&2; exit 2 ;;
esac
