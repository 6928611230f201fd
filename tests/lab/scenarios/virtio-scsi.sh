# virtio-scsi HBA with two scsi-hd LUNs: a rotational disk with WWN, serial, vendor, product and
# revision, and a non-rotational one with 4 KiB physical blocks and discard.
LAB_DESCRIPTION="virtio-scsi scsi-hd x2 with wwn/serial/vendor/product/rev, 512e SSD"
lab_qemu() {
  echo -drive; echo "file=$(lab_image h0 64),if=none,id=d0,format=raw"
  echo -drive; echo "file=$(lab_image h1 64),if=none,id=d1,format=raw,discard=unmap"
  echo -device; echo "virtio-scsi-pci,id=scsi0"
  echo -device; echo "scsi-hd,bus=scsi0.0,channel=0,scsi-id=0,lun=0,drive=d0,wwn=0x5000c50015ea71ac,serial=LABSCSI0001,vendor=LABVEND,product=LABDISK-HDD,ver=1.23,rotation_rate=7200"
  echo -device; echo "scsi-hd,bus=scsi0.0,channel=0,scsi-id=1,lun=0,drive=d1,wwn=0x5002538e40a1b2c3,serial=LABSCSI0002,vendor=LABVEND,product=LABDISK-SSD,ver=2.0,rotation_rate=1,physical_block_size=4096,discard_granularity=4096"
}
lab_guest() { wait_for /sys/class/scsi_disk/0:0:0:0 /sys/class/scsi_disk/0:0:1:0; }
lab_expect() {
  cat <<'X'
count type=disk 2
hctl=0:0:0:0 wwn 0x5000c50015ea71ac
hctl=0:0:0:0 serial LABSCSI0001
hctl=0:0:0:0 model LABDISK-HDD
hctl=0:0:0:0 rev 1.23
hctl=0:0:0:0 firmware 1.23
hctl=0:0:0:0 rota true
hctl=0:0:0:0 size 67108864
hctl=0:0:0:0 scsi.vpd83.0.value LABSCSI0001
hctl=0:0:0:0 scsi.vpd83.1.value 5000c50015ea71ac
hctl=0:0:0:0 vendor ~LABVEND
hctl=0:0:1:0 wwn 0x5002538e40a1b2c3
hctl=0:0:1:0 serial LABSCSI0002
hctl=0:0:1:0 model LABDISK-SSD
hctl=0:0:1:0 rota false
hctl=0:0:1:0 phy-sec 4096
hctl=0:0:1:0 log-sec 512
hctl=0:0:1:0 disc-gran 4096
X
}
