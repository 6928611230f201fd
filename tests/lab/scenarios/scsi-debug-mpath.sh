# scsi_debug with two hosts showing the same LUN identity (vpd_use_hostno=0): a multipath pair,
# and where dmsetup exists a dm-multipath map over the two paths (as multipathd would set up).
LAB_DESCRIPTION="scsi_debug add_host=2 vpd_use_hostno=0 + dm-multipath map (dmsetup)"
lab_qemu() { :; }
lab_guest() {
  modprobe scsi_debug dev_size_mb=32 add_host=2 vpd_use_hostno=0 inq_vendor=LABDBG inq_product=LABMPATH
  wait_for /dev/sda /dev/sdb
  settle
  cat /sys/block/sda/device/wwid /sys/block/sdb/device/wwid
  if [ -x /sbin/dmsetup ]; then
    modprobe dm-multipath && modprobe dm-round-robin
    local size wwid
    size=$(cat /sys/block/sda/size)
    wwid=$(sed 's/^naa\./3/' /sys/block/sda/device/wwid)
    dmsetup create mpatha --uuid "mpath-$wwid" \
      --table "0 $size multipath 0 0 1 1 service-time 0 2 1 /dev/sda 1 /dev/sdb 1" ||
      dmsetup create mpatha --uuid "mpath-$wwid" \
        --table "0 $size multipath 0 0 1 1 round-robin 0 2 1 /dev/sda 1000 /dev/sdb 1000"
    dmsetup table
  else
    echo "lab: no dmsetup in the initramfs: the dm-multipath map is skipped"
  fi
}
lab_expect() {
  cat <<'X'
count type=disk 2
count model=LABMPATH 2
sda wwid ~naa.
sdb wwid ~naa.
dm-0 type mpath
dm-0 name mpatha
dm-0 dm-uuid ~mpath-3
X
}
