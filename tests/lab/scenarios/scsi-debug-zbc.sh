# scsi_debug as a host-managed zoned (ZBC) disk: 8 zones of 4 MiB, the first conventional.
LAB_DESCRIPTION="scsi_debug zbc=host-managed, 4 MiB zones"
lab_qemu() { :; }
lab_guest() {
  modprobe scsi_debug dev_size_mb=32 zbc=host-managed zone_size_mb=4 zone_nr_conv=1 zone_max_open=4
  wait_for /dev/sda
}
lab_expect() {
  cat <<'X'
# lsblk 2.38 names SCSI type 0x14 (ZBC) "disk"; device/type is 20.
count type=disk 1
sda scsi.device_type 20
sda zoned host-managed
sda zone-nr 8
sda zone-omax 4
X
}
