# Optical drives: an ATAPI ide-cd on AHCI with a medium, and a scsi-cd on virtio-scsi without.
LAB_DESCRIPTION="ide-cd (AHCI, with medium) and scsi-cd (virtio-scsi, empty)"
lab_qemu() {
  echo -drive; echo "file=$(lab_image cd0 4),if=none,id=cd0,format=raw,media=cdrom,readonly=on"
  echo -drive; echo "if=none,id=cd1,media=cdrom"
  echo -device; echo "ide-cd,bus=ide.0,drive=cd0,serial=LABCD0001,model=LAB DVD-ROM"
  echo -device; echo "virtio-scsi-pci,id=scsi0"
  echo -device; echo "scsi-cd,bus=scsi0.0,scsi-id=2,lun=0,drive=cd1,serial=LABCD0002,vendor=LABVEND,product=LABCDROM"
}
lab_guest() { wait_for /dev/sr0 /dev/sr1; }
lab_expect() {
  cat <<'X'
count type=rom 2
serial=LABCD0001 type rom
serial=LABCD0001 rm true
serial=LABCD0001 ro true
serial=LABCD0001 tran sata
serial=LABCD0001 size 4194304
serial=LABCD0001 model LAB DVD-ROM
serial=LABCD0001 hctl ~:0:0:0
serial=LABCD0001 wwid null
serial=LABCD0002 model LABCDROM
serial=LABCD0002 vendor ~LABVEND
serial=LABCD0002 hctl ~:0:2:0
serial=LABCD0002 rm true
serial=LABCD0002 wwid null
X
}
