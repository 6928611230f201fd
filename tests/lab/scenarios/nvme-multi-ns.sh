# NVMe namespaces with EUI-64, UUID and a 4 KiB LBA format, on two controllers: QEMU's own PCI id
# (1b36:0010) and, with use-intel-id=on, 8086:5845.
#
# Linux (since 5.19, so Debian 12's 6.1) marks QEMU's 1b36:0010 controller NVME_QUIRK_BOGUS_NID:
# the namespace identifiers are ignored, the namespace has no eui/nguid/uuid attribute, and its
# wwid is the vendor-serial-model-nsid fallback. This scenario checks exactly that, and checks
# the identifiers themselves on the 8086:5845 controller.
LAB_DESCRIPTION="NVMe, 4 namespaces on 2 controllers: eui64/uuid, 4 KiB LBA, kernel NID quirk"
lab_qemu() {
  local i
  for i in 1 2 3 4; do echo -drive; echo "file=$(lab_image ns$i 32),if=none,id=d$i,format=raw"; done
  echo -device; echo "nvme,id=nvme0,serial=LABNVMEQUIRK,addr=0x4"
  echo -device; echo "nvme-ns,bus=nvme0,drive=d1,nsid=1,eui64=0x0011223344556601"
  echo -device; echo "nvme,id=nvme1,serial=LABNVMEMULTI,use-intel-id=on,addr=0x5"
  echo -device; echo "nvme-ns,bus=nvme1,drive=d2,nsid=1,eui64=0x0011223344556602"
  echo -device; echo "nvme-ns,bus=nvme1,drive=d3,nsid=2,eui64=0x0011223344556603,uuid=6e3c6a2a-4e1f-4a5b-9a1e-0d1a2b3c4d03"
  echo -device; echo "nvme-ns,bus=nvme1,drive=d4,nsid=3,uuid=6e3c6a2a-4e1f-4a5b-9a1e-0d1a2b3c4d04,logical_block_size=4096,physical_block_size=4096"
}
lab_guest() {
  wait_for /sys/class/nvme/nvme0 /sys/class/nvme/nvme1
  settle
  ls /sys/block
  for d in /sys/block/nvme*; do echo "$d: $(cat $d/wwid) eui=$(cat $d/eui 2>&1) uuid=$(cat $d/uuid 2>&1)"; done
}
lab_expect() {
  cat <<'X'
count type=disk 4
count serial=LABNVMEMULTI 3
serial=LABNVMEQUIRK nvme.eui64 null
serial=LABNVMEQUIRK wwid ~nvme.1b36-
serial=LABNVMEQUIRK tran nvme
serial=LABNVMEQUIRK model QEMU NVMe Ctrl
serial=LABNVMEQUIRK nvme.subsysnqn nqn.2019-08.org.qemu:LABNVMEQUIRK
nvme.wwid=~nvme.8086-4c41424e564d454d554c5449-51454d55204e564d65204374726c-00000001 nvme.nsid 1
nvme.wwid=~nvme.8086-4c41424e564d454d554c5449-51454d55204e564d65204374726c-00000001 nvme.eui64 null
nvme.wwid=~nvme.8086-4c41424e564d454d554c5449-51454d55204e564d65204374726c-00000002 nvme.uuid null
nvme.wwid=~nvme.8086-4c41424e564d454d554c5449-51454d55204e564d65204374726c-00000003 log-sec 4096
nvme.wwid=~nvme.8086-4c41424e564d454d554c5449-51454d55204e564d65204374726c-00000003 phy-sec 4096
nvme.wwid=~nvme.8086-4c41424e564d454d554c5449-51454d55204e564d65204374726c-00000003 size 33554432
nvme.wwid=~nvme.8086-4c41424e564d454d554c5449-51454d55204e564d65204374726c-00000003 nvme.controllers.0 ~nvme
nvme.wwid=~nvme.8086-4c41424e564d454d554c5449-51454d55204e564d65204374726c-00000003 firmware ~7.2
X
}
