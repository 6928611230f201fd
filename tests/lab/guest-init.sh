#!/bin/sh
# /init of the lab initramfs (busybox ash). Mounts the pseudo filesystems and the host's 9p
# share (tag "lab": the scenario's run directory), loads the controller drivers, starts udevd
# when present, runs /lab/scenario.sh, and powers off. The scenario script writes its results
# under /lab/out; this init prints the exit status between markers on the console:
#   ===DISKINV-LAB-BEGIN===  ...  ===DISKINV-LAB-END rc=N===
# Times (guest uptime in seconds) go to /lab/out/times.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
echo 1 >/proc/sys/kernel/printk 2>/dev/null

t() { echo "$1 $(cut -d' ' -f1 /proc/uptime)" >>/lab/out/times; }
finish() {
  sync
  echo "===DISKINV-LAB-END rc=$1==="
  poweroff -f
  sleep 10
}

modprobe virtio_pci; modprobe 9pnet_virtio && modprobe 9p
if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 lab /lab; then
  echo "===DISKINV-LAB-BEGIN==="
  echo "lab: cannot mount the 9p share"
  finish 125
fi
mkdir -p /lab/out
t init
echo "===DISKINV-LAB-BEGIN==="

# Controller drivers: loading one without its device is harmless, and the scenario need not
# know which module drives which QEMU device. scsi_debug, dm and md are the scenario's job.
for m in virtio_blk virtio_scsi nvme ahci sd_mod sr_mod sg megaraid_sas sym53c8xx; do
  modprobe "$m" 2>>/lab/out/guest.log
done
t modules

# systemd scenarios (tests/lab/systemd.sh): the network for the host's PostgreSQL (QEMU user
# network, host at 10.0.2.2) before any unit starts, then systemd as PID 1; its units start
# udevd and run the scenario.
if grep -q 'diskinv.lab=systemd' /proc/cmdline; then
  modprobe virtio_net 2>>/lab/out/guest.log
  i=0
  while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  if [ -e /sys/class/net/eth0 ]; then
    ip link set lo up && ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 &&
      ip route add default via 10.0.2.2
  fi
  t exec-systemd
  if [ -x /lib/systemd/systemd ]; then
    exec /lib/systemd/systemd
  fi
  echo "lab: diskinv.lab=systemd but no /lib/systemd/systemd in the initramfs"
  finish 125
fi

if [ -x /sbin/udevd ]; then
  /sbin/udevd --daemon --resolve-names=never 2>>/lab/out/guest.log
  # Only the storage subsystems: a full trigger costs ~8 s under TCG and adds nothing the
  # block records need (ID_PATH and friends walk sysfs, not the parents' udev records).
  udevadm trigger --type=devices --action=add --subsystem-match=block --subsystem-match=scsi \
    --subsystem-match=nvme --subsystem-match=nvme-subsystem --subsystem-match=scsi_generic
  udevadm settle --timeout=60
else
  # No udev: the kernel's devtmpfs still makes the nodes.
  sleep 1
fi
t udev

rc=0
if [ -f /lab/scenario.sh ]; then
  (cd /tmp && . /lab/scenario.sh) >/lab/out/scenario.log 2>&1 || rc=$?
else
  echo "lab: no /lab/scenario.sh" >/lab/out/scenario.log
  rc=124
fi
t done
cat /lab/out/scenario.log
finish "$rc"
