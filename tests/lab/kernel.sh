# Guest kernel cache for the QEMU lab. Source it; do not run it.
#
# lab_kernel_ensure: makes sure Debian's current linux-image-amd64 (6.1, bookworm) is unpacked
# under $LAB_CACHE and depmod'ed, and sets LAB_KVER, LAB_KTREE (the unpacked root, holding
# boot/vmlinuz-$LAB_KVER and lib/modules/$LAB_KVER) and LAB_VMLINUZ. A missing or half-built
# cache is rebuilt (apt-get download + dpkg-deb -x + depmod -b); a complete one is reused
# without touching the network. The package is never installed on the host.

: "${LAB_CACHE:=${DISKINV_LAB_CACHE:-${XDG_CACHE_HOME:-/var/cache}/diskinv-lab}}"

_lab_kernel_pkg() {  # the versioned image package linux-image-amd64 depends on
  apt-cache depends linux-image-amd64 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n1
}

lab_kernel_ensure() {
  mkdir -p "$LAB_CACHE" || die "cannot create the lab cache $LAB_CACHE"
  local pkg
  if [ -n "${DISKINV_LAB_KERNEL_PKG:-}" ]; then
    pkg=$DISKINV_LAB_KERNEL_PKG
  else
    # The versioned image package the metapackage points at; fall back to whatever is cached
    # (offline runs with a cache must keep working).
    pkg=$(_lab_kernel_pkg)
    if [ -z "$pkg" ] && [ ! -s "$LAB_CACHE/current" ]; then
      # A fresh machine may have no package lists yet.
      apt-get update -qq >/dev/null 2>&1
      pkg=$(_lab_kernel_pkg)
    fi
    if [ -z "$pkg" ]; then
      pkg=$(cat "$LAB_CACHE/current" 2>/dev/null || true)
      [ -n "$pkg" ] || die "cannot resolve linux-image-amd64 (apt-get update?) and no cached kernel in $LAB_CACHE"
    fi
  fi
  local tree=$LAB_CACHE/$pkg
  if [ ! -f "$tree/.complete" ]; then
    log "lab: fetching $pkg into $LAB_CACHE (one time)"
    rm -rf "$tree" "$LAB_CACHE/dl"
    mkdir -p "$LAB_CACHE/dl" "$tree"
    (cd "$LAB_CACHE/dl" && apt-get download -q "$pkg" >/dev/null 2>"$LAB_CACHE/dl/apt.log") ||
      { apt-get update -qq >/dev/null 2>&1 && (cd "$LAB_CACHE/dl" && apt-get download -q "$pkg" >/dev/null 2>"$LAB_CACHE/dl/apt.log"); } ||
      { cat "$LAB_CACHE/dl/apt.log" >&2; die "apt-get download $pkg failed"; }
    dpkg-deb -x "$LAB_CACHE"/dl/"$pkg"_*.deb "$tree" || die "dpkg-deb -x failed"
    local kver
    kver=$(ls "$tree/lib/modules" | head -n1)
    [ -n "$kver" ] && [ -f "$tree/boot/vmlinuz-$kver" ] || die "$pkg has no kernel image/modules"
    depmod -b "$tree" "$kver" || die "depmod -b $tree $kver failed"
    rm -rf "$LAB_CACHE/dl"
    touch "$tree/.complete"
  fi
  echo "$pkg" >"$LAB_CACHE/current"
  LAB_KTREE=$tree
  LAB_KVER=$(ls "$tree/lib/modules" | head -n1)
  LAB_VMLINUZ=$tree/boot/vmlinuz-$LAB_KVER
}
