# scsi_debug as a host-managed zoned (ZBC) disk: 8 zones of 4 MiB, the first conventional.
LAB_DESCRIPTION="scsi_debug zbc=host-managed, 4 MiB zones"
lab_qemu() { :; }
lab_guest() {
  modprobe scsi_debug dev_size_mb=32 zbc=host-managed zone_size_mb=4 zone_nr_conv=1 zone_max_open=4
  wait_for /dev/sda
}
lab_expect() {
  cat <<'X'
count type=zbc 1
sda zoned host-managed
sda zone-nr 8
sda zone-omax 4
X
}
