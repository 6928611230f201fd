# The CI hotplug scenario: through QMP, device_add then device_del an NVMe controller (on a PCIe
# root port) and a virtio-scsi scsi-hd, and scsi_debug's add_host up and down, while the guest
# records udev's block events; after each step the exact inventory, lsblk's view of it, the new
# devices' identity and the step's events are checked.
LAB_KIND=hotplug
LAB_DESCRIPTION="CI: QMP device_add/device_del of NVMe and scsi-hd, scsi_debug add_host"
lab_qemu() {
  echo -device; echo "pcie-root-port,id=rp1,chassis=1,slot=1"
  echo -drive; echo "file=$(lab_image base 32),if=none,id=base,format=raw"
  echo -drive; echo "file=$(lab_image hpn 32),if=none,id=hpn,format=raw"
  echo -drive; echo "file=$(lab_image hps 32),if=none,id=hps,format=raw"
  echo -device; echo "virtio-scsi-pci,id=scsi0"
  echo -device; echo "scsi-hd,bus=scsi0.0,scsi-id=0,lun=0,drive=base,serial=LABHPBASE"
}
lab_host() {
  case $1 in
    nvme_add) qmp device_add '{"driver": "nvme", "id": "hpnvme", "bus": "rp1", "serial": "LABHPNVME", "drive": "hpn"}' ;;
    scsi_add) qmp device_add '{"driver": "scsi-hd", "id": "hpscsi", "bus": "scsi0.0", "scsi-id": 5, "lun": 0, "drive": "hps", "serial": "LABHPSCSI", "wwn": 5764824129688174593}' ;;
    nvme_del) qmp device_del '{"id": "hpnvme"}' ;;
    scsi_del) qmp device_del '{"id": "hpscsi"}' ;;
    *) echo "no host step $1"; return 1 ;;
  esac
}
lab_guest() {
  local add=/sys/bus/pseudo/drivers/scsi_debug/add_host
  wait_for /dev/sda
  modprobe scsi_debug add_host=0 dev_size_mb=16 inq_vendor=LABDBG inq_product=LABHOTDBG
  start_events
  snapshot boot
  host_step nvme_add && wait_for /dev/nvme0n1 && snapshot nvme_add
  host_step scsi_add && wait_for /sys/class/scsi_disk/0:0:5:0/device/block && snapshot scsi_add
  echo 1 >$add && wait_for /dev/sdc && snapshot dbg_add
  host_step nvme_del && wait_gone /dev/nvme0n1 && snapshot nvme_del
  host_step scsi_del && wait_gone /dev/sdb && snapshot scsi_del
  echo -1 >$add && wait_gone /dev/sdc && snapshot dbg_del
}
lab_expect() {
  cat <<'X'
knames sda
[boot]
knames sda
events 0
sda serial LABHPBASE
[nvme_add]
knames sda nvme0n1
event add nvme0n1
events 1
nvme0n1 serial LABHPNVME
nvme0n1 tran nvme
nvme0n1 size 33554432
[scsi_add]
knames sda nvme0n1 sdb
event add sdb
sdb serial LABHPSCSI
sdb wwn 0x5000c500aaaa0001
sdb hctl 0:0:5:0
[dbg_add]
knames sda nvme0n1 sdb sdc
event add sdc
sdc model LABHOTDBG
sdc size 16777216
[nvme_del]
knames sda sdb sdc
event remove nvme0n1
events 1
[scsi_del]
knames sda sdc
event remove sdb
events 1
[dbg_del]
knames sda
event remove sdc
events 1
X
}
