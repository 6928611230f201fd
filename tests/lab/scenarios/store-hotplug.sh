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
lab_qemu() { lab_store_qemu LABSTBASE; }
lab_host() {
  local disk="SELECT d.state || ' ' || (d.removed_at IS NOT NULL) FROM diskinv.disk d JOIN diskinv.node n ON n.id = d.node_id WHERE n.machine_id = 'd15c1a0b0000000000000000000000a1' AND d.serial"
  case $1 in
    db_base) lab_pg_wait "$disk = 'LABSTBASE'" "present false" &&
             lab_pg_wait "SELECT count(*) FROM diskinv.disk WHERE serial = 'LABSTNVME'" 0 ;;
    nvme_add) qmp device_add '{"driver": "nvme", "id": "hpnvme", "bus": "rp1", "serial": "LABSTNVME", "drive": "hpn"}' ;;
    db_nvme_row) lab_pg_wait "$disk = 'LABSTNVME'" "present false" &&
                 lab_pg_wait "SELECT kname || ' ' || size_bytes FROM diskinv.disk WHERE serial = 'LABSTNVME'" "nvme0n1 33554432" ;;
    nvme_del) qmp device_del '{"id": "hpnvme"}' ;;
    db_nvme_tombstone) lab_pg_wait "$disk = 'LABSTNVME'" "removed true" &&
                       lab_pg_wait "$disk = 'LABSTBASE'" "present false" ;;
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
lab_expect() { lab_store_hotplug_expect LABSTNVME; }
