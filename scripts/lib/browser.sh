# shellcheck shell=bash
# Finds or installs the browser of the dashboard's browser test
# (tests/tests/system/dashboard.rs, driving tests/browser/dashboard.mjs).
#
#   ensure_chromium   makes sure /usr/bin/chromium (Debian's package) is there: installs the
#                     chromium package when it is missing and we run as root (as
#                     scripts/lib/postgres.sh does for PostgreSQL); otherwise says what to do.
#                     ANSLUT_CHROMIUM names another browser binary instead.

_browser_log() { echo "browser: $*" >&2; }

ensure_chromium() {
  local chromium="${ANSLUT_CHROMIUM:-/usr/bin/chromium}"
  if [[ -x "$chromium" ]]; then return 0; fi
  if [[ -n "${ANSLUT_CHROMIUM:-}" || "$(id -u)" != 0 ]]; then
    _browser_log "$chromium is missing: install Debian's chromium package (apt-get install chromium) or set ANSLUT_CHROMIUM"
    return 1
  fi
  _browser_log "installing Debian's chromium package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 && apt-get install -y -qq chromium >&2
  command -v node >/dev/null && command -v npm >/dev/null \
    || { _browser_log "installing Node.js and npm"; apt-get install -y -qq nodejs npm >&2; }
}
