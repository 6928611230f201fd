# Initramfs for the QEMU lab. Source it (after kernel.sh); do not run it.
#
# lab_initramfs_build OUT.cpio.gz: one archive shared by every scenario of a run; the scenario
# itself comes in over the 9p share (see guest-init.sh), so the archive does not depend on it.
# Contents:
# - busybox (static) and its applets as links; /init = tests/lab/guest-init.sh
# - kernel modules in LAB_MODULES and everything they depend on (modprobe --show-depends on the
#   unpacked tree), at their tree paths, with a depmod index of just those, so the guest's kmod
#   modprobe (not busybox's) takes module parameters the same way a node's does
# - $DISKINV_BIN, lsblk, kmod, and where the host has them mdadm, dmsetup, sfdisk, blkid,
#   sg_inq/sg_vpd, systemd-udevd + udevadm + /lib/udev (rules, ata_id, scsi_id, cdrom_id),
#   each with the shared libraries ldd lists
# Set LAB_NO_UDEV=1 to leave udevd out (the guest then has no udev db, as an initramfs without
# udev; lsblk and diskinv fall back to sysfs).

LAB_MODULES=(
  virtio_pci virtio_blk virtio_scsi virtio_net 9p 9pnet_virtio
  nvme nvme-core nvme-tcp nvmet nvmet-tcp
  scsi_mod sd_mod sr_mod sg scsi_debug
  libata ahci libahci
  megaraid_sas sym53c8xx
  dm-mod dm-multipath dm-round-robin md-mod raid1 loop
  crc64-rocksoft crc-t10dif
)

# Host programs copied in when present (first column: where the guest finds it).
LAB_OPTIONAL_PROGRAMS=(
  /sbin/mdadm:/usr/sbin/mdadm /sbin/dmsetup:/usr/sbin/dmsetup
  /sbin/sfdisk:/usr/sbin/sfdisk /sbin/blkid:/usr/sbin/blkid
  /usr/bin/sg_inq:/usr/bin/sg_inq /usr/bin/sg_vpd:/usr/bin/sg_vpd
)

_lab_copy_with_libs() {  # STAGE HOST_PATH [GUEST_PATH]
  local stage=$1 src=$2 dst=${3:-$2} lib
  mkdir -p "$stage$(dirname "$dst")"
  cp -L "$src" "$stage$dst" || return 1
  for lib in $(ldd "$src" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\).*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p'); do
    [ -e "$stage$lib" ] && continue
    mkdir -p "$stage$(dirname "$lib")"
    cp -L "$lib" "$stage$lib"
  done
}

lab_initramfs_build() {
  local out=$1 stage
  stage=$(mktemp -d "${TMPDIR:-/tmp}/diskinv-lab-initrd.XXXXXX") || die "mktemp failed"
  # The archive's "." is the guest's "/": 0755 as on any system (mktemp makes 0700, which
  # leaves every unprivileged process of the guest unable to resolve a path).
  chmod 755 "$stage"
  mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,run,tmp,lab,root,lib64}
  # /lib and /lib64 as on the host (merged-/usr hosts resolve ldd paths under /lib too).
  cp /bin/busybox "$stage/bin/busybox" || die "busybox-static is not installed"
  local a
  for a in $(/bin/busybox --list); do
    [ -e "$stage/bin/$a" ] || ln -s busybox "$stage/bin/$a"
  done
  cp "$DISKINV_LAB_DIR/guest-init.sh" "$stage/init" && chmod 755 "$stage/init"

  # Modules: resolve dependencies against the unpacked tree, not the host's.
  local m line path
  : >"$stage/modules.order"
  for m in "${LAB_MODULES[@]}"; do
    modprobe -d "$LAB_KTREE" -S "$LAB_KVER" --show-depends "$m" 2>/dev/null >"$stage/deps.txt" ||
      { log "lab: module $m not in $LAB_KVER (skipped)"; continue; }
    while read -r line; do
      case $line in insmod\ *) path=${line#insmod }; path=${path%% *} ;; *) continue ;; esac
      [ -e "$stage${path#$LAB_KTREE}" ] && continue
      mkdir -p "$stage$(dirname "${path#$LAB_KTREE}")"
      cp "$path" "$stage${path#$LAB_KTREE}"
    done <"$stage/deps.txt"
  done
  rm -f "$stage/deps.txt" "$stage/modules.order"
  local kmods=$LAB_KTREE/lib/modules/$LAB_KVER
  cp "$kmods"/modules.order "$kmods"/modules.builtin "$kmods"/modules.builtin.modinfo \
     "$stage/lib/modules/$LAB_KVER/" 2>/dev/null
  depmod -b "$stage" "$LAB_KVER" || die "depmod on the initramfs failed"

  _lab_copy_with_libs "$stage" "$DISKINV_BIN" /usr/bin/diskinv || die "cannot copy $DISKINV_BIN"
  # The database commands (agent, db, ...) are in diskinv-db.so (src/cli/db_module.h); the
  # guest's diskinv finds it next to itself.
  local dbmod
  dbmod=$(dirname "$DISKINV_BIN")/diskinv-db.so
  [ -e "$dbmod" ] || dbmod=$(dirname "$DISKINV_BIN")/../lib/diskinv/diskinv-db.so  # installed
  _lab_copy_with_libs "$stage" "$dbmod" /usr/bin/diskinv-db.so || die "cannot copy $dbmod"
  _lab_copy_with_libs "$stage" "$(command -v lsblk)" /usr/bin/lsblk || die "cannot copy lsblk"
  _lab_copy_with_libs "$stage" "$(command -v kmod)" /bin/kmod || die "kmod is not installed"
  for a in modprobe insmod rmmod lsmod modinfo depmod; do ln -sf /bin/kmod "$stage/sbin/$a"; done
  local p
  for p in "${LAB_OPTIONAL_PROGRAMS[@]}"; do
    [ -x "${p#*:}" ] && _lab_copy_with_libs "$stage" "${p#*:}" "${p%%:*}"
  done
  if [ -z "${LAB_NO_UDEV:-}" ] && [ -x /lib/systemd/systemd-udevd ]; then
    _lab_copy_with_libs "$stage" /lib/systemd/systemd-udevd /sbin/udevd
    _lab_copy_with_libs "$stage" "$(command -v udevadm)" /bin/udevadm
    mkdir -p "$stage/lib/udev" "$stage/etc/udev"
    cp -a /lib/udev/rules.d "$stage/lib/udev/"
    # Rules that only matter for a full system and would spawn programs the guest lacks.
    rm -f "$stage"/lib/udev/rules.d/{60-multipath,66-kpartx,68-del-part-nodes,73-seat-late,71-seat,70-uaccess,80-net-setup-link,99-systemd,85-hwclock}.rules
    for p in ata_id scsi_id cdrom_id; do
      [ -x /lib/udev/$p ] && _lab_copy_with_libs "$stage" /lib/udev/$p
    done
  fi
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$stage/etc/passwd"
  printf '%s\n' root:x:0: disk:x:6: cdrom:x:24: tape:x:26: kmem:x:15: dialout:x:20: \
    audio:x:29: video:x:44: input:x:105: kvm:x:106: render:x:107: sgx:x:108: >"$stage/etc/group"
  (cd "$stage" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 >"$out" ||
    die "cpio of the initramfs failed"
  rm -rf "$stage"
}
