# Two SATA disks on the q35 AHCI controller (libata, ahci): one with serial, model, revision
# and WWN, one non-rotational.
LAB_DESCRIPTION="AHCI ide-hd x2 with serial/model/ver/wwn, one non-rotational"
lab_qemu() {
  echo -drive; echo "file=$(lab_image s0 64),if=none,id=d0,format=raw"
  echo -drive; echo "file=$(lab_image s1 32),if=none,id=d1,format=raw"
  echo -device; echo "ide-hd,bus=ide.0,drive=d0,serial=LABSATA0001,model=LAB SATA DISK,ver=4.56,wwn=0x50014ee2b5a1c3d4,rotation_rate=5400"
  echo -device; echo "ide-hd,bus=ide.2,drive=d1,serial=LABSATA0002,model=LAB SATA SSD,rotation_rate=1"
}
lab_guest() { wait_for /dev/sda /dev/sdb; }
lab_expect() {
  cat <<'X'
count type=disk 2
serial=LABSATA0001 model LAB SATA DISK
serial=LABSATA0001 tran sata
serial=LABSATA0001 wwn 0x50014ee2b5a1c3d4
serial=LABSATA0001 rev 4.56
serial=LABSATA0001 vendor ~ATA
serial=LABSATA0002 wwn null
serial=LABSATA0002 wwid ~t10.ATA
serial=LABSATA0001 rota true
serial=LABSATA0001 hctl 0:0:0:0
serial=LABSATA0002 model LAB SATA SSD
serial=LABSATA0002 rota false
serial=LABSATA0002 hctl 2:0:0:0
X
}
