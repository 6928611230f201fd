# One NVMe controller with three namespaces: EUI-64 only, EUI-64 + UUID, UUID on a 4 KiB LBA.
LAB_DESCRIPTION="NVMe, three namespaces with eui64/uuid, one with 4 KiB blocks"
lab_qemu() {
  local i
  for i in 1 2 3; do echo -drive; echo "file=$(lab_image ns$i 32),if=none,id=d$i,format=raw"; done
  echo -device; echo "nvme,id=nvme0,serial=LABNVMEMULTI"
  echo -device; echo "nvme-ns,bus=nvme0,drive=d1,nsid=1,eui64=0x0011223344556601"
  echo -device; echo "nvme-ns,bus=nvme0,drive=d2,nsid=2,eui64=0x0011223344556602,uuid=6e3c6a2a-4e1f-4a5b-9a1e-0d1a2b3c4d02"
  echo -device; echo "nvme-ns,bus=nvme0,drive=d3,nsid=3,uuid=6e3c6a2a-4e1f-4a5b-9a1e-0d1a2b3c4d03,logical_block_size=4096,physical_block_size=4096"
}
lab_guest() { wait_for /dev/nvme0n1 /dev/nvme0n2 /dev/nvme0n3; }
lab_expect() {
  cat <<'X'
count type=disk 3
count nvme.serial=LABNVMEMULTI 3
nvme.nsid=1 nvme.eui64 ~0011223344556601
nvme.nsid=1 nvme.uuid null
nvme.nsid=1 wwid eui.0011223344556601
nvme.nsid=2 nvme.eui64 ~0011223344556602
nvme.nsid=2 nvme.uuid 6e3c6a2a-4e1f-4a5b-9a1e-0d1a2b3c4d02
nvme.nsid=2 wwid uuid.6e3c6a2a-4e1f-4a5b-9a1e-0d1a2b3c4d02
nvme.nsid=3 nvme.eui64 null
nvme.nsid=3 nvme.uuid 6e3c6a2a-4e1f-4a5b-9a1e-0d1a2b3c4d03
nvme.nsid=3 log-sec 4096
nvme.nsid=3 phy-sec 4096
nvme.nsid=3 size 33554432
nvme.nsid=1 tran nvme
nvme.nsid=1 serial LABNVMEMULTI
X
}
