# Shared by scripts/test, scripts/demo and .ci/run. Source it; do not run it.

DISKINV_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Debian packages the build and the tests need. Keep in sync with README "Requirements".
DISKINV_PACKAGES=(
  build-essential cmake pkg-config
  libudev-dev libpq-dev libspdlog-dev libfmt-dev
  libgtest-dev libbenchmark-dev nlohmann-json3-dev
  util-linux fdisk udev kmod
  postgresql-15
)
# Building and checking the Debian package (scripts/package and its test).
DISKINV_PACKAGE_TOOLS=(debhelper lintian fakeroot dpkg-dev systemd groff-base man-db)
DISKINV_PACKAGES+=("${DISKINV_PACKAGE_TOOLS[@]}")

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Installs what is missing, quietly; does nothing (and prints nothing) when all is present.
ensure_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "missing packages (${missing[*]}); run as root or install them: apt-get install ${missing[*]}"
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
}

# configure_and_build BUILD_DIR [cmake args...]
# DISKINV_BUILD_TARGETS (space-separated): build only these targets (default: all).
configure_and_build() {
  local dir=$1; shift
  cmake -S "$DISKINV_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >"$dir.configure.log" 2>&1 ||
    { cat "$dir.configure.log" >&2; die "cmake configure failed (log above)"; }
  local -a targets=()
  [ -n "${DISKINV_BUILD_TARGETS:-}" ] && read -r -a targets <<<"--target $DISKINV_BUILD_TARGETS"
  cmake --build "$dir" -j"$(nproc)" "${targets[@]}" || die "build failed"
}
