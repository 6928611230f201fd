# One NVMe controller, one namespace with a GPT of two partitions.
LAB_DESCRIPTION="NVMe, one namespace, GPT with two partitions"
lab_qemu() {
  local img
  img=$(lab_gpt_image n0 64)
  echo -drive; echo "file=$img,if=none,id=d0,format=raw"
  echo -device; echo "nvme,serial=LABNVME0001,drive=d0"
}
lab_guest() { wait_for /dev/nvme0n1p2; }
lab_expect() {
  cat <<'X'
count type=disk 1
nvme0n1 tran nvme
nvme0n1 serial LABNVME0001
nvme0n1 model QEMU NVMe Ctrl
nvme0n1 nvme.serial LABNVME0001
nvme0n1 nvme.nsid 1
nvme0n1 size 67108864
nvme0n1p1 size 16777216
nvme0n1p1 pkname nvme0n1
nvme0n1p2 start 34816
X
}
