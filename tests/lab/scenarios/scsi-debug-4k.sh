# scsi_debug with 4096-byte logical blocks.
LAB_DESCRIPTION="scsi_debug, 4 KiB logical sectors"
lab_qemu() { :; }
lab_guest() {
  modprobe scsi_debug dev_size_mb=32 sector_size=4096 inq_vendor=LABDBG inq_product=LAB4K inq_rev=0404
  wait_for /dev/sda
}
lab_expect() {
  cat <<'X'
count type=disk 1
sda log-sec 4096
sda phy-sec 4096
sda size 33554432
sda vendor ~LABDBG
sda model LAB4K
sda rev 0404
X
}
