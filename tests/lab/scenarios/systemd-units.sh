# The shipped units and udev rule under a real systemd (PID 1) and systemd-udevd: the disk's
# udev event starts diskinv-agent.service (60-diskinv.rules: SYSTEMD_WANTS), which runs with the
# package's hardening (Type=notify, watchdog, capability bounding set, sandbox) and writes the
# guest's disks to PostgreSQL on the host; an NVMe hot-add becomes a row and its removal a
# tombstone; diskinv-reconcile.service (the controller's unit, DynamicUser, no capability,
# its database from /etc/default/diskinv) follows the CDC stream of the host's database and
# turns a tuning profile into desired queue tuning, which the agent writes to sysfs and
# reports; the watchdog is fed, SIGHUP reloads, SIGTERM stops both cleanly
# (tests/lab/systemd.sh).
LAB_KIND=hotplug
LAB_INIT=systemd
LAB_DESCRIPTION="systemd PID 1: udev starts diskinv-agent.service (hardened, notify, watchdog) -> host PostgreSQL; diskinv-reconcile.service (DynamicUser) tunes it"
LAB_MACHINE_ID=d15c1a0b0000000000000000000000b2
lab_host_setup() {
  ensure_packages postgresql-15
  lab_pg_start "$LAB_RUN/pg" && "$DISKINV_BIN" db migrate --database-url "$LAB_PG_URL" >/dev/null &&
    "$DISKINV_BIN" cdc slots sync --database-url "$LAB_PG_URL" >/dev/null &&
    printf 'database_url = postgresql://postgres@10.0.2.2:%s/diskinv\n' "$LAB_PG_PORT" >"$LAB_RUN/diskinv.conf" &&
    printf 'DISKINV_DATABASE_URL=postgresql://postgres@10.0.2.2:%s/diskinv\n' "$LAB_PG_PORT" >"$LAB_RUN/default-diskinv"
}
lab_host_teardown() { lab_pg_stop; }
lab_initrd_extra() {
  # A short watchdog, so the test sees several periods pass (the package ships 30 s).
  printf '[Service]\nWatchdogSec=5s\n' >"$LAB_RUN/watchdog.conf"
  lab_systemd_cpio "$1" "$LAB_MACHINE_ID" lab-systemd "$LAB_RUN/watchdog.conf"
}
lab_qemu() { lab_store_qemu LABSDBASE; }
lab_host() {
  local disk="SELECT d.state || ' ' || (d.removed_at IS NOT NULL) FROM diskinv.disk d JOIN diskinv.node n ON n.id = d.node_id WHERE n.machine_id = '$LAB_MACHINE_ID' AND d.serial"
  case $1 in
    db_base) lab_pg_wait "$disk = 'LABSDBASE'" "present false" &&
             lab_pg_wait "SELECT hostname FROM diskinv.node WHERE machine_id = '$LAB_MACHINE_ID'" lab-systemd ;;
    nvme_add) qmp device_add '{"driver": "nvme", "id": "hpnvme", "bus": "rp1", "serial": "LABSDNVME", "drive": "hpn"}' ;;
    db_nvme_row) lab_pg_wait "$disk = 'LABSDNVME'" "present false" ;;
    nvme_del) qmp device_del '{"id": "hpnvme"}' ;;
    db_nvme_tombstone) lab_pg_wait "$disk = 'LABSDNVME'" "removed true" &&
                       lab_pg_wait "$disk = 'LABSDBASE'" "present false" ;;
    tune) local c="$DISKINV_BIN"  # the spec only: the guest's reconcile unit acts on it
          $c pool create lab --database-url "$LAB_PG_URL" &&
            $c pool policy add lab-sda --pool lab --kname sda --database-url "$LAB_PG_URL" &&
            $c tune profile add lab-ra --pool lab --set read_ahead_kb=384 --database-url "$LAB_PG_URL" ;;
    db_claimed) lab_pg_wait "SELECT p.name FROM diskinv.disk_claim c JOIN diskinv.pool p ON p.id = c.pool_id JOIN diskinv.disk d ON d.id = c.disk_id WHERE d.serial = 'LABSDBASE'" lab ;;
    db_tuned) lab_pg_wait "SELECT t.status || ' ' || (t.observed->>'read_ahead_kb') FROM diskinv.disk_tuning t JOIN diskinv.disk d ON d.id = t.disk_id WHERE d.serial = 'LABSDBASE'" "applied 384" ;;
    *) echo "no host step $1"; return 1 ;;
  esac
}
lab_guest() {
  # systemctl show -P PROPERTY of the agent's / the reconciler's unit.
  agent() { systemctl show -P "$1" diskinv-agent.service; }
  rec() { systemctl show -P "$1" diskinv-reconcile.service; }
  # sandboxed PID UNIT CAPBND: the sandbox as the process sees it: only the capabilities of
  # CAPBND can ever be held, no new privileges, a seccomp filter (/lab/out/UNIT-proc-status.txt).
  sandboxed() {
    grep -E '^(Uid|CapBnd|CapEff|NoNewPrivs|Seccomp):' "/proc/$1/status" | tee "/lab/out/$2-proc-status.txt"
    grep -q "^CapBnd:[[:space:]]*$3\$" "/proc/$1/status" || fail "$2: capability bounding set"
    grep -q '^NoNewPrivs:[[:space:]]*1$' "/proc/$1/status" || fail "$2: NoNewPrivs"
    grep -q '^Seccomp:[[:space:]]*2$' "/proc/$1/status" || fail "$2: no seccomp filter"
  }
  wait_for /dev/sda
  # 1. Nothing enables the unit here: only sda's udev record (TAG+="systemd",
  #    SYSTEMD_WANTS+="diskinv-agent.service") can start it. Type=notify: "active" means the
  #    agent sent READY=1 after its first full sync.
  local i=0
  while [ "$(agent ActiveState)" != active ] && [ $i -lt 900 ]; do sleep 0.1; i=$((i + 1)); done
  systemctl show diskinv-agent.service >/lab/out/agent-show-start.txt
  systemctl status diskinv-agent.service >/lab/out/agent-status-start.txt 2>&1
  [ "$(agent ActiveState)" = active ] || fail "diskinv-agent.service is $(agent ActiveState)/$(agent SubState)"
  echo "agent active at $(cut -d' ' -f1 /proc/uptime) s; WantedBy=$(agent WantedBy)"
  case " $(agent WantedBy) " in
    *-block-sda.device*) ;;
    *) fail "diskinv-agent.service is not wanted by sda's device unit: '$(agent WantedBy)'" ;;
  esac
  [ "$(agent Type)" = notify ] || fail "Type=$(agent Type)"
  [ "$(agent WatchdogUSec)" = 5s ] || fail "WatchdogUSec=$(agent WatchdogUSec)"
  [ -n "$(agent StatusText)" ] || fail "the agent sent no STATUS="
  echo "STATUS: $(agent StatusText)"
  local pid
  pid=$(agent MainPID)
  # 2. The sandbox: only CAP_NET_ADMIN (bit 12); the agent still reads sysfs and the udev db.
  sandboxed "$pid" agent 0000000000001000
  # 3. Events reach the sandboxed agent (netlink allowed by RestrictAddressFamilies).
  start_events
  snapshot boot
  host_step db_base
  host_step nvme_add && wait_for /dev/nvme0n1 && snapshot nvme_add
  host_step db_nvme_row
  host_step nvme_del && wait_gone /dev/nvme0n1 && snapshot nvme_del
  host_step db_nvme_tombstone
  # 4. The controller's unit, started as an operator would (`systemctl start`; the package
  #    enables nothing): it reads DISKINV_DATABASE_URL from /etc/default/diskinv and streams
  #    the slot `cdc slots sync` made on the host, as a dynamic user without any capability.
  systemctl start diskinv-reconcile.service || fail "systemctl start diskinv-reconcile failed"
  i=0
  while [ "$(rec ActiveState)" != active ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  sleep 2  # Type=exec: "active" once exec'd; a bad URL or a missing slot exits within this
  systemctl status diskinv-reconcile.service >/lab/out/reconcile-status-start.txt 2>&1
  [ "$(rec ActiveState)" = active ] || fail "diskinv-reconcile.service is $(rec ActiveState)/$(rec SubState)"
  local rpid
  rpid=$(rec MainPID)
  sandboxed "$rpid" reconcile 0000000000000000
  awk '/^Uid:/ { exit !($2 >= 61184 && $2 <= 65519) }' "/proc/$rpid/status" ||
    fail "reconcile does not run as a dynamic user (61184-65519)"
  # 5. Desired tuning from that controller: a pool, a policy and a profile written on the host
  #    reach it as CDC events; it claims sda and writes its desired tuning, and the sandboxed
  #    agent writes the queue attribute (ProtectKernelTunables=yes with
  #    ReadWritePaths=/sys/devices) and reports.
  host_step tune
  host_step db_claimed
  i=0
  while [ "$(cat /sys/block/sda/queue/read_ahead_kb)" != 384 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
  [ "$(cat /sys/block/sda/queue/read_ahead_kb)" = 384 ] || fail "read_ahead_kb is $(cat /sys/block/sda/queue/read_ahead_kb), want 384"
  host_step db_tuned
  # 6. The watchdog (5 s here): after three periods the same process runs, never restarted.
  sleep 15
  [ "$(agent MainPID)" = "$pid" ] || fail "the agent was restarted (pid $pid -> $(agent MainPID))"
  [ "$(agent NRestarts)" = 0 ] || fail "NRestarts=$(agent NRestarts)"
  [ "$(agent ActiveState)" = active ] || fail "after 15 s: $(agent ActiveState)"
  [ "$(rec MainPID)" = "$rpid" ] && [ "$(rec NRestarts)" = 0 ] ||
    fail "the reconciler was restarted (pid $rpid -> $(rec MainPID), NRestarts=$(rec NRestarts))"
  # 7. ExecReload (SIGHUP) keeps the agent's process; stop (SIGTERM) ends both with status 0.
  systemctl stop diskinv-reconcile.service || fail "systemctl stop diskinv-reconcile failed"
  journalctl -u diskinv-reconcile.service --no-pager >/lab/out/reconcile-journal.txt 2>&1
  [ "$(rec Result)" = success ] || fail "reconcile Result=$(rec Result)"
  [ "$(rec ExecMainStatus)" = 0 ] || fail "reconcile ExecMainStatus=$(rec ExecMainStatus)"
  # Its journal says what it did: the slot it streamed, the claim, the acknowledged stop.
  journalctl -u diskinv-reconcile.service -o cat --no-pager | grep -q '^info \[cdc\] streaming slot diskinv_reconcile' ||
    fail "no 'streaming slot' line of the reconciler in the journal"
  journalctl -u diskinv-reconcile.service -o cat --no-pager | grep -q '^info \[cdc\] stopped; acknowledged' ||
    fail "no 'stopped; acknowledged' line of the reconciler in the journal"
  systemctl reload diskinv-agent.service || fail "systemctl reload failed"
  sleep 2
  [ "$(agent MainPID)" = "$pid" ] && [ "$(agent ActiveState)" = active ] || fail "after reload: $(agent ActiveState) pid $(agent MainPID)"
  systemctl stop diskinv-agent.service || fail "systemctl stop failed"
  systemctl show diskinv-agent.service >/lab/out/agent-show-stop.txt
  [ "$(agent Result)" = success ] || fail "Result=$(agent Result)"
  [ "$(agent ExecMainStatus)" = 0 ] || fail "ExecMainStatus=$(agent ExecMainStatus)"
  [ "$(agent ActiveState)" = inactive ] || fail "after stop: $(agent ActiveState)"
  journalctl -u diskinv-agent.service --no-pager >/lab/out/agent-journal.txt 2>&1
  # 8. The agent's log in the journal: its own lines (no second timestamp) with syslog
  #    priorities, so `journalctl -p warning` leaves the info lines out.
  journalctl -u diskinv-agent.service -o cat --no-pager | grep -q '^info \[agent\] node lab-systemd' ||
    fail "no agent start line in the journal"
  [ "$(journalctl -u diskinv-agent.service -p warning -o cat --no-pager | grep -c '^info ')" = 0 ] ||
    fail "info lines at priority warning: the priority prefix was not read"
  [ "$(journalctl -u diskinv-agent.service -p info -o cat --no-pager | grep -c '^info \[agent\]')" -ge 5 ] ||
    fail "fewer than 5 info lines of the agent at priority info"
}
lab_expect() { lab_store_hotplug_expect LABSDNVME; }
