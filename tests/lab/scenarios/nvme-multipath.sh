# An NVMe subsystem with two controllers sharing two namespaces: native NVMe multipath, so the
# kernel shows nvme0n1/nvme0n2 heads over hidden nvme0c0n1/nvme0c1n1... paths.
LAB_DESCRIPTION="NVMe subsystem, two controllers, two shared namespaces (native multipath)"
NQN=nqn.2026-01.io.diskinv:lab-subsys0
lab_qemu() {
  echo -drive; echo "file=$(lab_image ns1 32),if=none,id=d1,format=raw"
  echo -drive; echo "file=$(lab_image ns2 32),if=none,id=d2,format=raw"
  echo -device; echo "nvme-subsys,id=subsys0,nqn=$NQN"
  echo -device; echo "nvme,id=nvme0,serial=LABNVMEMP,subsys=subsys0"
  echo -device; echo "nvme,id=nvme1,serial=LABNVMEMP,subsys=subsys0"
  echo -device; echo "nvme-ns,bus=nvme0,drive=d1,nsid=1,shared=on,eui64=0x00112233445566a1,uuid=6e3c6a2a-4e1f-4a5b-9a1e-0d1a2b3c4da1"
  echo -device; echo "nvme-ns,bus=nvme0,drive=d2,nsid=2,shared=on,eui64=0x00112233445566a2"
}
lab_guest() {
  wait_for /dev/nvme0n1 /dev/nvme0n2
  cat /sys/module/nvme_core/parameters/multipath
  ls /sys/block /sys/class/nvme-subsystem/*/
}
lab_expect() {
  cat <<X
count type=disk 2
count nvme.subsysnqn=$NQN 2
nvme.nsid=1 nvme.controller
nvme.nsid=1 nvme.paths.1 ~nvme0c1n1
nvme.nsid=1 nvme.subsysnqn $NQN
nvme.nsid=1 nvme.uuid 6e3c6a2a-4e1f-4a5b-9a1e-0d1a2b3c4da1
nvme.nsid=1 wwid uuid.6e3c6a2a-4e1f-4a5b-9a1e-0d1a2b3c4da1
nvme.nsid=2 nvme.eui64 ~00112233445566a2
nvme.nsid=2 wwid eui.00112233445566a2
nvme.nsid=1 tran nvme
nvme.nsid=1 serial LABNVMEMP
X
}
