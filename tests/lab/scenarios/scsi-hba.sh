# Two more SCSI HBA models with real drivers: MegaRAID SAS (megasas -> megaraid_sas, JBOD) and
# the LSI 53C895A parallel SCSI controller (lsi53c895a -> sym53c8xx: transport spi).
LAB_DESCRIPTION="megasas (megaraid_sas) and lsi53c895a (sym53c8xx, spi) with a scsi-hd each"
lab_qemu() {
  echo -drive; echo "file=$(lab_image m0 32),if=none,id=d0,format=raw"
  echo -drive; echo "file=$(lab_image l0 32),if=none,id=d1,format=raw"
  echo -device; echo "megasas,id=mega0,use_jbod=on,sas_address=0x5001a4a0c0ffee00"
  echo -device; echo "scsi-hd,bus=mega0.0,scsi-id=0,lun=0,drive=d0,serial=LABMEGA0001,wwn=0x5000cca0aabbcc01,vendor=LABVEND,product=LABMEGA"
  echo -device; echo "lsi53c895a,id=lsi0"
  echo -device; echo "scsi-hd,bus=lsi0.0,scsi-id=3,lun=0,drive=d1,serial=LABLSI0001,wwn=0x5000cca0aabbcc02,vendor=LABVEND,product=LABSPI"
}
lab_guest() { wait_for /dev/sda /dev/sdb; }
lab_expect() {
  cat <<'X'
count type=disk 2
serial=LABMEGA0001 model LABMEGA
serial=LABMEGA0001 wwn 0x5000cca0aabbcc01
serial=LABLSI0001 model LABSPI
serial=LABLSI0001 wwn 0x5000cca0aabbcc02
serial=LABLSI0001 tran spi
serial=LABLSI0001 hctl ~:0:3:0
X
}
