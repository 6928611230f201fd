# md RAID1 over two virtio-blk disks (with serials) and a loop device, where mdadm exists.
LAB_DESCRIPTION="virtio-blk x2 (serial) + md RAID1 (mdadm) + loop device"
lab_qemu() {
  echo -drive; echo "file=$(lab_image v0 48),if=none,id=d0,format=raw"
  echo -drive; echo "file=$(lab_image v1 48),if=none,id=d1,format=raw"
  echo -device; echo "virtio-blk-pci,drive=d0,serial=LABVIRTIO0001"
  echo -device; echo "virtio-blk-pci,drive=d1,serial=LABVIRTIO0002"
}
lab_guest() {
  wait_for /dev/vda /dev/vdb
  # One loop device only: lsblk 2.38 --sysroot decides whether an empty loopN of a capture is
  # listed by the host's /sys (docs/lab.md), so captures keep no empty loop devices.
  modprobe loop max_loop=1
  truncate -s 16M /tmp/loop0.img && losetup /dev/loop0 /tmp/loop0.img
  if [ -x /sbin/mdadm ]; then
    modprobe md-mod && modprobe raid1
    mdadm --create /dev/md0 --run --level=1 --raid-devices=2 --metadata=1.2 --assume-clean \
      --homehost=lab --name=labraid /dev/vda /dev/vdb
    settle
    cat /proc/mdstat
  else
    echo "lab: no mdadm in the initramfs: the RAID1 is skipped"
  fi
}
lab_expect() {
  cat <<'X'
vda serial LABVIRTIO0001
vdb serial LABVIRTIO0002
vda tran virtio
md0 type raid1
md0 md-level raid1
loop0 type loop
loop0 back-file /tmp/loop0.img
X
}
