# A private PostgreSQL on the host for the lab's store scenario. Source it; do not run it.
#
# lab_pg_start DIR: initdb (as the postgres user: initdb refuses root) and start a server on a
#   free port, listening on 127.0.0.1 only (QEMU's user network maps the guest's 10.0.2.2
#   there), trust authentication (replication too), wal_level=logical (a reconciler may
#   follow the change stream), database "diskinv"; sets LAB_PG_PORT and LAB_PG_URL (for the
#   host; the guest uses 10.0.2.2 and the same port).
# lab_pg_sql SQL: runs SQL in that database, prints the rows unaligned (psql -Atc).
# lab_pg_wait SQL WANT: until SQL prints WANT (at most 60 s; the agent writes asynchronously).
# lab_pg_stop: stops the server and removes DIR.
# lab_store_qemu BASE_SERIAL: QEMU arguments of the store scenarios: the user network, a PCIe
#   root port for a hot-added NVMe controller (drive "hpn"), a virtio-scsi disk BASE_SERIAL.
: "${LAB_PG_BIN:=/usr/lib/postgresql/15/bin}"

lab_pg_start() {
  LAB_PG_DIR=$1
  [ -x "$LAB_PG_BIN/postgres" ] || { echo "no $LAB_PG_BIN/postgres (postgresql-15)"; return 1; }
  mkdir -p "$LAB_PG_DIR" && chown postgres: "$LAB_PG_DIR" && chmod 700 "$LAB_PG_DIR" || return 1
  runuser -u postgres -- "$LAB_PG_BIN/initdb" -D "$LAB_PG_DIR/data" -U postgres -A trust -E UTF8 \
    >"$LAB_PG_DIR/initdb.log" 2>&1 || { cat "$LAB_PG_DIR/initdb.log"; return 1; }
  LAB_PG_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  runuser -u postgres -- "$LAB_PG_BIN/pg_ctl" -D "$LAB_PG_DIR/data" -l "$LAB_PG_DIR/server.log" -w \
    -o "-p $LAB_PG_PORT -k $LAB_PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c wal_level=logical" start \
    >/dev/null || { tail -n 20 "$LAB_PG_DIR/server.log"; return 1; }
  runuser -u postgres -- "$LAB_PG_BIN/createdb" -h 127.0.0.1 -p "$LAB_PG_PORT" -U postgres diskinv ||
    return 1
  LAB_PG_URL=postgresql://postgres@127.0.0.1:$LAB_PG_PORT/diskinv
}

lab_pg_sql() {
  "$LAB_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$LAB_PG_PORT" -U postgres -d diskinv -Atc "$1"
}

lab_pg_stop() {
  [ -n "${LAB_PG_DIR:-}" ] || return 0
  runuser -u postgres -- "$LAB_PG_BIN/pg_ctl" -D "$LAB_PG_DIR/data" -m immediate -w stop >/dev/null 2>&1
  rm -rf "$LAB_PG_DIR"
  LAB_PG_DIR=
}

lab_pg_wait() {
  local i got
  for i in $(seq 1 120); do
    got=$(lab_pg_sql "$1" 2>&1)
    [ "$got" = "$2" ] && { echo "db: $1 -> $got"; return 0; }
    sleep 0.5
  done
  echo "db: $1 -> '$got', want '$2'"
  return 1
}

# The final-scan expectations of the store scenarios' hotplug sequence: the base disk sda, an
# NVMe namespace with serial NVME_SERIAL hot-added (nvme_add) and removed again (nvme_del).
lab_store_hotplug_expect() {  # NVME_SERIAL
  cat <<X
knames sda
[boot]
knames sda
[nvme_add]
knames sda nvme0n1
event add nvme0n1
nvme0n1 serial $1
[nvme_del]
knames sda
event remove nvme0n1
X
}

lab_store_qemu() {  # BASE_SERIAL: a virtio-scsi base disk, a root port and an image to hot-add
  echo -netdev; echo "user,id=n0"
  echo -device; echo "virtio-net-pci,netdev=n0,romfile="
  echo -device; echo "pcie-root-port,id=rp1,chassis=1,slot=1"
  echo -drive; echo "file=$(lab_image base 32),if=none,id=base,format=raw"
  echo -drive; echo "file=$(lab_image hpn 32),if=none,id=hpn,format=raw"
  echo -device; echo "virtio-scsi-pci,id=scsi0"
  echo -device; echo "scsi-hd,bus=scsi0.0,scsi-id=0,lun=0,drive=base,serial=$1"
}
