# End to end with the store: `diskinv agent` in the guest writes to a PostgreSQL on the host
# through QEMU's user network (guest 10.0.2.2 -> host 127.0.0.1); a hot-added NVMe namespace
# becomes a row there, and after device_del a tombstone (state 'removed', removed_at set).
LAB_KIND=hotplug
LAB_DESCRIPTION="agent in the guest -> host PostgreSQL: NVMe hot-add row, hot-remove tombstone"
LAB_GUEST_VARS="LAB_PG_PORT"
lab_host_setup() {
  ensure_packages postgresql-15
  lab_pg_start "$LAB_RUN/pg" && "$DISKINV_BIN" db migrate --database-url "$LAB_PG_URL" >/dev/null
}
lab_host_teardown() { lab_pg_stop; }
lab_qemu() {
  echo -netdev; echo "user,id=n0"
  echo -device; echo "virtio-net-pci,netdev=n0,romfile="
  echo -device; echo "pcie-root-port,id=rp1,chassis=1,slot=1"
  echo -drive; echo "file=$(lab_image base 32),if=none,id=base,format=raw"
  echo -drive; echo "file=$(lab_image hpn 32),if=none,id=hpn,format=raw"
  echo -device; echo "virtio-scsi-pci,id=scsi0"
  echo -device; echo "scsi-hd,bus=scsi0.0,scsi-id=0,lun=0,drive=base,serial=LABSTBASE"
}
# until SQL prints WANT (at most 60 s): the agent writes asynchronously.
_lab_db_wait() {
  local i got
  for i in $(seq 1 120); do
    got=$(lab_pg_sql "$1" 2>&1)
    [ "$got" = "$2" ] && { echo "db: $1 -> $got"; return 0; }
    sleep 0.5
  done
  echo "db: $1 -> '$got', want '$2'"
  return 1
}
lab_host() {
  local disk="SELECT d.state || ' ' || (d.removed_at IS NOT NULL) FROM diskinv.disk d JOIN diskinv.node n ON n.id = d.node_id WHERE n.machine_id = 'd15c1a0b0000000000000000000000a1' AND d.serial"
  case $1 in
    db_base) _lab_db_wait "$disk = 'LABSTBASE'" "present false" &&
             _lab_db_wait "SELECT count(*) FROM diskinv.disk WHERE serial = 'LABSTNVME'" 0 ;;
    nvme_add) qmp device_add '{"driver": "nvme", "id": "hpnvme", "bus": "rp1", "serial": "LABSTNVME", "drive": "hpn"}' ;;
    db_nvme_row) _lab_db_wait "$disk = 'LABSTNVME'" "present false" &&
                 _lab_db_wait "SELECT kname || ' ' || size_bytes FROM diskinv.disk WHERE serial = 'LABSTNVME'" "nvme0n1 33554432" ;;
    nvme_del) qmp device_del '{"id": "hpnvme"}' ;;
    db_nvme_tombstone) _lab_db_wait "$disk = 'LABSTNVME'" "removed true" &&
                       _lab_db_wait "$disk = 'LABSTBASE'" "present false" ;;
    *) echo "no host step $1"; return 1 ;;
  esac
}
lab_guest() {
  modprobe virtio_net
  wait_for /sys/class/net/eth0 /dev/sda
  ip link set lo up && ip link set eth0 up
  ip addr add 10.0.2.15/24 dev eth0 && ip route add default via 10.0.2.2
  DISKINV_MACHINE_ID=d15c1a0b0000000000000000000000a1 DISKINV_HOSTNAME=lab-guest \
    diskinv agent --database-url "postgresql://postgres@10.0.2.2:$LAB_PG_PORT/diskinv" \
    >/lab/out/agent.log 2>&1 &
  start_events
  snapshot boot
  host_step db_base
  host_step nvme_add && wait_for /dev/nvme0n1 && snapshot nvme_add
  host_step db_nvme_row
  host_step nvme_del && wait_gone /dev/nvme0n1 && snapshot nvme_del
  host_step db_nvme_tombstone
}
lab_expect() {
  cat <<'X'
knames sda
[boot]
knames sda
[nvme_add]
knames sda nvme0n1
event add nvme0n1
nvme0n1 serial LABSTNVME
[nvme_del]
knames sda
event remove nvme0n1
X
}
