# NVMe over TCP on the guest's loopback: the kernel's own target (nvmet, nvmet-tcp) exports a
# loop device as a namespace with a UUID and an NGUID, and the host driver (nvme-tcp) connects
# to it. QEMU's emulated controllers cannot show namespace identifiers to Linux 6.1 (see
# nvme-multi-ns); a fabrics controller does, with transport tcp, an address and the subsystem
# NQN as configured. The fabrics controller joins a multipath head (nvme0n1 over path nvme0c0n1);
# its address is per controller, so the head has none.
LAB_DESCRIPTION="NVMe/TCP loopback (nvmet): uuid, nguid, NQN, transport tcp"
NQN=nqn.2026-01.io.diskinv:lab-tcp
LAB_GUEST_VARS=NQN
lab_qemu() { :; }
lab_guest() {
  local s=/sys/kernel/config/nvmet/subsystems/$NQN p=/sys/kernel/config/nvmet/ports/1
  ip link set lo up
  modprobe loop max_loop=1 && modprobe nvmet && modprobe nvmet-tcp && modprobe nvme-tcp
  mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config
  truncate -s 32M /tmp/ns1.img && losetup /dev/loop0 /tmp/ns1.img
  mkdir "$s"
  echo 1 >"$s/attr_allow_any_host"
  echo LABNVMETCP01 >"$s/attr_serial"
  [ -e "$s/attr_model" ] && echo "LAB NVMe TCP" >"$s/attr_model"
  mkdir "$s/namespaces/1"
  echo -n /dev/loop0 >"$s/namespaces/1/device_path"
  echo 6e3c6a2a-4e1f-4a5b-9a1e-0d1a2b3c4d10 >"$s/namespaces/1/device_uuid"
  echo 00112233-4455-6677-8899-aabbccddee10 >"$s/namespaces/1/device_nguid"
  echo 1 >"$s/namespaces/1/enable"
  mkdir "$p"
  echo tcp >"$p/addr_trtype"; echo ipv4 >"$p/addr_adrfam"
  echo 127.0.0.1 >"$p/addr_traddr"; echo 4420 >"$p/addr_trsvcid"
  ln -s "$s" "$p/subsystems/$NQN"
  echo "transport=tcp,traddr=127.0.0.1,trsvcid=4420,nqn=$NQN" >/dev/nvme-fabrics
  wait_for /dev/nvme0n1
  settle
  ls /sys/block/nvme0n1/ /sys/class/nvme/nvme0/
  cat /sys/block/nvme0n1/wwid /sys/class/nvme/nvme0/address
}
lab_expect() {
  cat <<X
count type=disk 1
nvme0n1 tran nvme
nvme0n1 nvme.transport tcp
nvme0n1 nvme.controllers.0 nvme0
nvme0n1 nvme.paths.0 nvme0c0n1
nvme0n1 nvme.subsysnqn $NQN
nvme0n1 nvme.uuid 6e3c6a2a-4e1f-4a5b-9a1e-0d1a2b3c4d10
nvme0n1 nvme.nguid 00112233-4455-6677-8899-aabbccddee10
nvme0n1 wwid uuid.6e3c6a2a-4e1f-4a5b-9a1e-0d1a2b3c4d10
nvme0n1 serial LABNVMETCP01
nvme0n1 model LAB NVMe TCP
nvme0n1 size 33554432
loop0 back-file /tmp/ns1.img
X
}
