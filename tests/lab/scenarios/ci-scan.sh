# The CI scan scenario: one boot with one device of most kinds (the per-kind scenarios test each
# in depth): NVMe with a GPT, virtio-scsi scsi-hd and scsi-cd, AHCI SATA ide-hd and ATAPI ide-cd,
# a second HBA model (lsi53c895a, spi) and a thin-provisioned scsi_debug disk.
LAB_DESCRIPTION="CI: NVMe+GPT, virtio-scsi hd/cd, SATA hd/cd, lsi53c895a, scsi_debug thin (one boot)"
lab_qemu() {
  local img
  img=$(lab_gpt_image n0 64)
  echo -drive; echo "file=$img,if=none,id=n0,format=raw"
  echo -device; echo "nvme,serial=LABCINVME01,drive=n0"
  echo -drive; echo "file=$(lab_image h0 32),if=none,id=h0,format=raw"
  echo -drive; echo "if=none,id=c0,media=cdrom"
  echo -device; echo "virtio-scsi-pci,id=scsi0"
  echo -device; echo "scsi-hd,bus=scsi0.0,scsi-id=0,lun=0,drive=h0,wwn=0x5000c50015ea71ad,serial=LABCISCSI01,vendor=LABVEND,product=LABCI-HDD,ver=1.23,rotation_rate=7200"
  echo -device; echo "scsi-cd,bus=scsi0.0,scsi-id=2,lun=0,drive=c0,serial=LABCICD02,vendor=LABVEND,product=LABCDROM"
  echo -drive; echo "file=$(lab_image s0 32),if=none,id=s0,format=raw"
  echo -drive; echo "file=$(lab_image c1 4),if=none,id=c1,format=raw,media=cdrom,readonly=on"
  echo -device; echo "ide-hd,bus=ide.0,drive=s0,serial=LABCISATA01,model=LAB SATA DISK,ver=4.56,wwn=0x50014ee2b5a1c3d5,rotation_rate=1"
  echo -device; echo "ide-cd,bus=ide.1,drive=c1,serial=LABCICD01,model=LAB DVD-ROM"
  echo -drive; echo "file=$(lab_image l0 32),if=none,id=l0,format=raw"
  echo -device; echo "lsi53c895a,id=lsi0"
  echo -device; echo "scsi-hd,bus=lsi0.0,scsi-id=3,lun=0,drive=l0,serial=LABCILSI01,wwn=0x5000cca0aabbcc03,vendor=LABVEND,product=LABSPI"
}
lab_guest() {
  modprobe scsi_debug dev_size_mb=16 lbpu=1 lbpws=1 unmap_granularity=8 physblk_exp=3 inq_vendor=LABDBG inq_product=LABTHIN
  wait_for /dev/nvme0n1p2 /dev/sr0 /dev/sr1
  local i=0
  while [ "$(ls -d /sys/class/scsi_disk/* | wc -l)" -lt 4 ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
  ls /sys/class/scsi_disk
}
lab_expect() {
  cat <<'X'
count type=disk 5
count type=part 2
count type=rom 2
nvme0n1 serial LABCINVME01
nvme0n1 tran nvme
nvme0n1 model QEMU NVMe Ctrl
nvme0n1 nvme.serial LABCINVME01
nvme0n1 nvme.model QEMU NVMe Ctrl
nvme0n1 vendor null
nvme0n1 rev null
nvme0n1 nvme.transport pcie
nvme0n1 nvme.nsid 1
nvme0n1 nvme.subsystem ~nvme-subsys
nvme0n1 size 67108864
nvme0n1p2 start 34816
nvme0n1p2 pkname nvme0n1
serial=LABCISCSI01 wwn 0x5000c50015ea71ad
serial=LABCISCSI01 model LABCI-HDD
serial=LABCISCSI01 rev 1.23
serial=LABCISCSI01 rota true
serial=LABCISCSI01 scsi.vpd83.1.value 5000c50015ea71ad
serial=LABCICD02 type rom
serial=LABCICD02 wwid null
serial=LABCISATA01 tran sata
serial=LABCISATA01 model LAB SATA DISK
serial=LABCISATA01 wwn 0x50014ee2b5a1c3d5
serial=LABCISATA01 rev 4.56
serial=LABCISATA01 rota false
serial=LABCICD01 tran sata
serial=LABCICD01 size 4194304
serial=LABCILSI01 tran spi
serial=LABCILSI01 hctl ~:0:3:0
serial=LABCILSI01 wwn 0x5000cca0aabbcc03
model=LABTHIN disc-gran 4096
model=LABTHIN phy-sec 4096
model=LABTHIN vendor ~LABDBG
X
}
