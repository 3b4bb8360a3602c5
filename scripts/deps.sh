# Sourced by scripts/run and scripts/test: installs what paysplit needs from
# the system's package manager when it is missing, or says exactly what to run.
export PATH="$PATH:/usr/local/go/bin:$HOME/go/bin"

have_pg() {
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/postgres" ]; then return 0; fi
  compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null
}
have_chromium() {
  [ -n "${PAYSPLIT_CHROMIUM:-}" ] && [ -x "$PAYSPLIT_CHROMIUM" ] && return 0
  command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || command -v google-chrome >/dev/null 2>&1
}

# need PACKAGE CHECK: installs Debian's PACKAGE unless CHECK passes, as root
# or through sudo without a password; otherwise prints the command and fails.
need() {
  local pkg=$1 check=$2 as=()
  "$check" && return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "paysplit needs $pkg (Debian's package name); this system has no apt-get: install it with its package manager" >&2
    return 1
  fi
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      as=(sudo)
    else
      echo "paysplit needs $pkg; run as root:  apt-get update && apt-get install -y $pkg" >&2
      echo "  (or: sudo apt-get update && sudo apt-get install -y $pkg), then this command again" >&2
      return 1
    fi
  fi
  echo "installing $pkg with apt-get…" >&2
  "${as[@]}" apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive "${as[@]}" apt-get install -y -qq "$pkg" >/dev/null || return 1
  "$check" || { echo "$pkg is installed but still not found" >&2; return 1; }
}

need_go() {
  command -v go >/dev/null 2>&1 && return 0
  echo "paysplit needs Go (see go.mod for the version): https://go.dev/doc/install" >&2
  return 1
}
