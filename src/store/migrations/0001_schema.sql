-- diskinv schema, version 1: nodes, disks, partitions, stacking edges, identity conflicts.
-- Observed state only (written by agents). See docs/schema.md.
CREATE SCHEMA IF NOT EXISTS diskinv;

-- Row versioning for every observed table: generation and cdc_updated move only when a row
-- really changed (an UPDATE that changes nothing is skipped: no new tuple, no WAL, no CDC
-- message); an UPDATE that changes content without a new etag (a person in psql, or a table
-- whose writer leaves etags to the database) gets a fresh etag, so an agent's next diff sees the
-- row as stale and rewrites it. An INSERT without an etag gets a random one.
CREATE FUNCTION diskinv.tg_versioned_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    NEW.generation := 1;
    NEW.cdc_inserted := now();
    NEW.cdc_updated := NULL;
    IF NEW.etag IS NULL OR NEW.etag = '' THEN
      NEW.etag := 'x' || md5(random()::text || clock_timestamp()::text);
    END IF;
    RETURN NEW;
  END IF;
  NEW.generation := OLD.generation;
  NEW.cdc_inserted := OLD.cdc_inserted;
  NEW.cdc_updated := OLD.cdc_updated;
  IF NEW IS NOT DISTINCT FROM OLD THEN
    RETURN NULL;
  END IF;
  IF NEW.etag IS NOT DISTINCT FROM OLD.etag THEN
    NEW.etag := 'x' || md5(random()::text || clock_timestamp()::text);
  END IF;
  NEW.generation := OLD.generation + 1;
  NEW.cdc_updated := now();
  RETURN NEW;
END $$;

CREATE TABLE diskinv.node (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  machine_id     text NOT NULL UNIQUE,        -- /etc/machine-id: the node's stable key
  hostname       text NOT NULL,
  boot_id        text,
  agent_version  text,
  registered_at  timestamptz NOT NULL DEFAULT now(),
  last_seen      timestamptz NOT NULL DEFAULT now(),  -- last registration or scan record
  last_full_scan timestamptz,
  missed_events  bigint NOT NULL DEFAULT 0,
  resyncs        bigint NOT NULL DEFAULT 0,
  attrs          jsonb NOT NULL DEFAULT '{}',
  generation     bigint NOT NULL DEFAULT 1,
  etag           text NOT NULL DEFAULT '',
  cdc_inserted   timestamptz,
  cdc_updated    timestamptz
);
CREATE INDEX node_hostname_idx ON diskinv.node (hostname);

-- Whole disks and every device that is not a partition (NVMe namespaces, dm, md, loop, ...).
CREATE TABLE diskinv.disk (
  id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  uid                    text NOT NULL UNIQUE,
  node_id                bigint NOT NULL REFERENCES diskinv.node (id),
  kname                  text NOT NULL,
  name                   text,
  type                   text,
  major                  integer,
  minor                  integer,
  diskseq                bigint,
  transport              text,
  vendor                 text,
  model                  text,
  serial                 text,
  firmware               text,
  wwn                    text,
  eui64                  text,
  nguid                  text,
  hctl                   text,
  size_bytes             bigint,
  ro                     boolean,
  removable              boolean,
  rotational             boolean,
  logical_block_size     bigint,
  physical_block_size    bigint,
  minimum_io_size        bigint,
  optimal_io_size        bigint,
  discard_granularity    bigint,
  discard_max_bytes      bigint,
  discard_max_hw_bytes   bigint,
  write_zeroes_max_bytes bigint,
  zoned                  text,
  scheduler              text,
  nr_requests            bigint,
  max_sectors_kb         bigint,
  identity_source        text NOT NULL,
  identity_conflict      text,
  attrs                  jsonb NOT NULL DEFAULT '{}',
  state                  text NOT NULL DEFAULT 'present' CHECK (state IN ('present', 'removed')),
  removed_at             timestamptz,
  generation             bigint NOT NULL DEFAULT 1,
  etag                   text NOT NULL,
  first_seen             timestamptz NOT NULL DEFAULT now(),
  last_seen              timestamptz NOT NULL DEFAULT now(),
  cdc_inserted           timestamptz,
  cdc_updated            timestamptz
);
-- Common queries: a node's disks (diskinv ls --node, the agent's diff), by kname on a node,
-- by transport or state across the fleet, by serial / WWN / EUI / NGUID (diskinv show).
CREATE INDEX disk_node_idx ON diskinv.disk (node_id, kname);
CREATE INDEX disk_state_idx ON diskinv.disk (state, transport);
CREATE INDEX disk_transport_idx ON diskinv.disk (transport);
CREATE INDEX disk_wwn_idx ON diskinv.disk (wwn) WHERE wwn IS NOT NULL;
CREATE INDEX disk_serial_idx ON diskinv.disk (serial) WHERE serial IS NOT NULL;
CREATE INDEX disk_eui64_idx ON diskinv.disk (eui64) WHERE eui64 IS NOT NULL;
CREATE INDEX disk_nguid_idx ON diskinv.disk (nguid) WHERE nguid IS NOT NULL;
CREATE INDEX disk_cdc_inserted_idx ON diskinv.disk (cdc_inserted);
CREATE INDEX disk_cdc_updated_idx ON diskinv.disk (cdc_updated);

-- Partitions; parent_uid is the uid of the disk (or dm/md device) they are on.
CREATE TABLE diskinv.partition (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  uid               text NOT NULL UNIQUE,
  node_id           bigint NOT NULL REFERENCES diskinv.node (id),
  parent_uid        text NOT NULL,
  kname             text NOT NULL,
  partn             integer,
  major             integer,
  minor             integer,
  start_sector      bigint,
  size_bytes        bigint,
  ro                boolean,
  part_uuid         text,   -- ID_PART_ENTRY_UUID
  part_name         text,   -- ID_PART_ENTRY_NAME
  part_type         text,   -- ID_PART_ENTRY_TYPE
  fs_type           text,   -- ID_FS_TYPE
  fs_uuid           text,   -- ID_FS_UUID
  identity_source   text NOT NULL,
  identity_conflict text,
  attrs             jsonb NOT NULL DEFAULT '{}',
  state             text NOT NULL DEFAULT 'present' CHECK (state IN ('present', 'removed')),
  removed_at        timestamptz,
  generation        bigint NOT NULL DEFAULT 1,
  etag              text NOT NULL,
  first_seen        timestamptz NOT NULL DEFAULT now(),
  last_seen         timestamptz NOT NULL DEFAULT now(),
  cdc_inserted      timestamptz,
  cdc_updated       timestamptz
);
CREATE INDEX partition_node_idx ON diskinv.partition (node_id, kname);
CREATE INDEX partition_parent_idx ON diskinv.partition (parent_uid);
CREATE INDEX partition_state_idx ON diskinv.partition (state);
CREATE INDEX partition_cdc_inserted_idx ON diskinv.partition (cdc_inserted);
CREATE INDEX partition_cdc_updated_idx ON diskinv.partition (cdc_updated);

-- Stacking edges: `child_uid` (dm, md, multipath map, ...) is built on `parent_uid` (a disk or a
-- partition). An edge that no longer exists becomes a tombstone like a device, so that a CDC
-- consumer sees the removal as an UPDATE it can replay from cdc_updated.
CREATE TABLE diskinv.holder (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  node_id      bigint NOT NULL REFERENCES diskinv.node (id),
  parent_uid   text NOT NULL,
  child_uid    text NOT NULL,
  state        text NOT NULL DEFAULT 'present' CHECK (state IN ('present', 'removed')),
  removed_at   timestamptz,
  generation   bigint NOT NULL DEFAULT 1,
  etag         text NOT NULL DEFAULT '',
  first_seen   timestamptz NOT NULL DEFAULT now(),
  last_seen    timestamptz NOT NULL DEFAULT now(),
  cdc_inserted timestamptz,
  cdc_updated  timestamptz,
  UNIQUE (parent_uid, child_uid)
);
CREATE INDEX holder_child_idx ON diskinv.holder (child_uid);
CREATE INDEX holder_node_idx ON diskinv.holder (node_id, state);
CREATE INDEX holder_cdc_inserted_idx ON diskinv.holder (cdc_inserted);
CREATE INDEX holder_cdc_updated_idx ON diskinv.holder (cdc_updated);

-- Identifiers that could not be trusted: 'duplicate' (one uid derived by several devices of a
-- node: shared serials, one WWN on multipath paths) or 'bogus' (all-zero WWN, placeholder
-- serial). Open while resolved_at IS NULL; a conflict that comes back is reopened.
CREATE TABLE diskinv.identity_conflict (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  node_id      bigint NOT NULL REFERENCES diskinv.node (id),
  kind         text NOT NULL CHECK (kind IN ('duplicate', 'bogus')),
  identifier   text NOT NULL,   -- e.g. "serial:ATA:Model:123" or "wwn:0x0000000000000000"
  reason       text NOT NULL,
  devices      text NOT NULL,   -- knames, comma separated
  first_seen   timestamptz NOT NULL DEFAULT now(),
  resolved_at  timestamptz,
  generation   bigint NOT NULL DEFAULT 1,
  etag         text NOT NULL DEFAULT '',
  cdc_inserted timestamptz,
  cdc_updated  timestamptz,
  UNIQUE (node_id, kind, identifier)
);
CREATE INDEX identity_conflict_open_idx ON diskinv.identity_conflict (node_id)
  WHERE resolved_at IS NULL;

CREATE TRIGGER node_versioned BEFORE INSERT OR UPDATE ON diskinv.node
  FOR EACH ROW EXECUTE FUNCTION diskinv.tg_versioned_row();
CREATE TRIGGER disk_versioned BEFORE INSERT OR UPDATE ON diskinv.disk
  FOR EACH ROW EXECUTE FUNCTION diskinv.tg_versioned_row();
CREATE TRIGGER partition_versioned BEFORE INSERT OR UPDATE ON diskinv.partition
  FOR EACH ROW EXECUTE FUNCTION diskinv.tg_versioned_row();
CREATE TRIGGER holder_versioned BEFORE INSERT OR UPDATE ON diskinv.holder
  FOR EACH ROW EXECUTE FUNCTION diskinv.tg_versioned_row();
CREATE TRIGGER identity_conflict_versioned BEFORE INSERT OR UPDATE ON diskinv.identity_conflict
  FOR EACH ROW EXECUTE FUNCTION diskinv.tg_versioned_row();

-- Logical replication (CDC, pgoutput): every table is identified by its primary key `id`, the
-- default, stated here on purpose. Rows are never deleted (tombstones), so a consumer needs no
-- old tuple: an UPDATE carries the whole new row (id, uid, node_id, state, generation, etag),
-- and consumers reconcile from current rows. FULL would double the WAL of every update and
-- still send unchanged TOASTed values (a large attrs) as 'u' in the new tuple.
ALTER TABLE diskinv.node REPLICA IDENTITY DEFAULT;
ALTER TABLE diskinv.disk REPLICA IDENTITY DEFAULT;
ALTER TABLE diskinv.partition REPLICA IDENTITY DEFAULT;
ALTER TABLE diskinv.holder REPLICA IDENTITY DEFAULT;
ALTER TABLE diskinv.identity_conflict REPLICA IDENTITY DEFAULT;

-- Views for people (psql): sizes in GiB, node hostnames instead of ids.
CREATE VIEW diskinv.disks_v AS
  SELECT d.id, d.uid, n.hostname, d.kname, d.type, d.transport, d.vendor, d.model, d.serial,
         d.wwn, round(d.size_bytes / 1073741824.0, 1) AS size_gib, d.rotational, d.state,
         d.removed_at, d.identity_source, d.identity_conflict, d.generation, d.first_seen,
         d.last_seen, greatest(d.last_seen, n.last_full_scan) AS confirmed_at
  FROM diskinv.disk d JOIN diskinv.node n ON n.id = d.node_id;

CREATE VIEW diskinv.partitions_v AS
  SELECT p.id, p.uid, n.hostname, p.kname, d.kname AS disk_kname, p.partn,
         round(p.size_bytes / 1073741824.0, 1) AS size_gib, p.fs_type, p.part_name, p.state,
         p.removed_at, p.generation
  FROM diskinv.partition p JOIN diskinv.node n ON n.id = p.node_id
  LEFT JOIN diskinv.disk d ON d.uid = p.parent_uid;

CREATE VIEW diskinv.stack_v AS
  SELECT n.hostname, h.parent_uid, coalesce(pd.kname, pp.kname) AS parent_kname,
         h.child_uid, c.kname AS child_kname, c.type AS child_type, h.first_seen
  FROM diskinv.holder h JOIN diskinv.node n ON n.id = h.node_id
  LEFT JOIN diskinv.disk pd ON pd.uid = h.parent_uid
  LEFT JOIN diskinv.partition pp ON pp.uid = h.parent_uid
  LEFT JOIN diskinv.disk c ON c.uid = h.child_uid
  WHERE h.state = 'present';

CREATE VIEW diskinv.nodes_v AS
  SELECT n.id, n.hostname, n.machine_id, n.agent_version, n.last_seen, n.last_full_scan,
         n.missed_events, n.resyncs,
         count(d.id) FILTER (WHERE d.state = 'present') AS disks_present,
         count(d.id) FILTER (WHERE d.state = 'removed') AS disks_removed
  FROM diskinv.node n LEFT JOIN diskinv.disk d ON d.node_id = n.id
  GROUP BY n.id;

CREATE VIEW diskinv.conflicts_v AS
  SELECT c.id, n.hostname, c.kind, c.identifier, c.reason, c.devices, c.first_seen
  FROM diskinv.identity_conflict c JOIN diskinv.node n ON n.id = c.node_id
  WHERE c.resolved_at IS NULL;
