# scsi_debug with logical block provisioning: UNMAP (lbpu) and WRITE SAME with UNMAP (lbpws),
# zeroes after unmap (lbprz), and an unmap granularity, so discard limits are non-zero.
LAB_DESCRIPTION="scsi_debug thin provisioning: lbpu=1 lbpws=1 lbprz=1"
lab_qemu() { :; }
lab_guest() {
  modprobe scsi_debug dev_size_mb=32 lbpu=1 lbpws=1 lbprz=1 unmap_granularity=8 unmap_max_blocks=65536 physblk_exp=3
  wait_for /dev/sda
}
lab_expect() {
  cat <<'X'
count type=disk 1
sda disc-gran 4096
sda phy-sec 4096
sda log-sec 512
X
}
