# An NVMe subsystem with two controllers sharing two namespaces: native NVMe multipath, so the
# kernel shows two heads nvme<S>n1, nvme<S>n2 over hidden paths nvme<S>c<C>n<N>, one per
# controller. Debian 12's 6.1 kernel has no multipath/ links under the head (the walker finds the
# paths under the subsystem's controllers). QEMU 7.2 prefixes the subsystem NQN with
# "nqn.2019-08.org.qemu:", and Linux ignores QEMU's namespace identifiers (NVME_QUIRK_BOGUS_NID,
# see nvme-multi-ns), so the wwid is the vendor-serial-model-nsid form.
LAB_DESCRIPTION="NVMe subsystem, two controllers, two shared namespaces (native multipath)"
NQN=nqn.2026-01.io.diskinv:lab-subsys0
lab_qemu() {
  echo -drive; echo "file=$(lab_image ns1 32),if=none,id=d1,format=raw"
  echo -drive; echo "file=$(lab_image ns2 32),if=none,id=d2,format=raw"
  echo -device; echo "nvme-subsys,id=subsys0,nqn=$NQN"
  echo -device; echo "nvme,id=nvme0,serial=LABNVMEMP,subsys=subsys0"
  echo -device; echo "nvme,id=nvme1,serial=LABNVMEMP,subsys=subsys0"
  echo -device; echo "nvme-ns,bus=nvme0,drive=d1,nsid=1,shared=on"
  echo -device; echo "nvme-ns,bus=nvme0,drive=d2,nsid=2,shared=on"
}
lab_guest() {
  local i=0
  # The heads' names follow the subsystem's instance, which depends on probe order.
  while [ "$(ls -d /sys/block/nvme*c*n* 2>/dev/null | wc -l)" -lt 4 ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
  settle
  cat /sys/module/nvme_core/parameters/multipath
  ls /sys/block /sys/class/nvme-subsystem/*/
}
lab_expect() {
  cat <<X
count type=disk 2
count nvme.subsysnqn=nqn.2019-08.org.qemu:$NQN 2
nvme.nsid=1 nvme.controllers.0 nvme0
nvme.nsid=1 nvme.controllers.1 nvme1
nvme.nsid=1 nvme.paths.0 ~c0n1
nvme.nsid=1 nvme.paths.1 ~c1n1
nvme.nsid=1 nvme.paths.2 <missing>
nvme.nsid=2 nvme.paths.0 ~c0n2
nvme.nsid=2 nvme.paths.1 ~c1n2
nvme.nsid=1 nvme.subsystem ~nvme-subsys
nvme.nsid=1 nvme.transport pcie
nvme.nsid=1 wwid ~nvme.1b36-4c41424e564d454d50-
nvme.nsid=2 wwid ~-00000002
nvme.nsid=1 tran nvme
nvme.nsid=1 serial LABNVMEMP
nvme.nsid=1 model QEMU NVMe Ctrl
X
}
