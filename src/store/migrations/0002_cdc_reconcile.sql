-- diskinv schema, version 2: CDC consumer bookkeeping; pools, policies and claims; queue
-- tuning profiles and per-disk desired/observed tuning. Spec tables (pool, pool_policy,
-- tuning_profile) are written by people through `diskinv pool|tune`; disk_claim and the
-- desired half of disk_tuning by the reconciler; the observed half of disk_tuning by agents.
-- See docs/cdc.md and docs/reconcile.md.

-- One row per CDC consumer application: its slot and publication, and its own confirmed
-- position, written in the same transaction as the handler's effects (PostgreSQL <= 16 can
-- move a slot's confirmed_flush_lsn backwards on restart; the consumer resumes from here).
CREATE TABLE diskinv.cdc_consumer (
  app              text PRIMARY KEY,
  slot_name        text NOT NULL,
  publication      text NOT NULL,
  confirmed_lsn    pg_lsn NOT NULL DEFAULT '0/0',  -- Commit end LSN of the last handled txn
  last_commit_time timestamptz,                    -- commit time of that transaction
  transactions     bigint NOT NULL DEFAULT 0,
  changes          bigint NOT NULL DEFAULT 0,
  decode_errors    bigint NOT NULL DEFAULT 0,
  handler_errors   bigint NOT NULL DEFAULT 0,
  last_error       text,
  last_error_at    timestamptz,
  heartbeat_at     timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now()
);

-- Conditions an operator must act on. At most one open alarm per consumer and kind; open
-- while cleared_at IS NULL. gap_since: changes committed after it may not have been delivered
-- (`diskinv cdc replay --since` clears the alarm when it covers the gap).
CREATE TABLE diskinv.cdc_alarm (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  app            text NOT NULL,
  kind           text NOT NULL CHECK (kind IN ('slot_missing', 'slot_invalidated', 'decode_error')),
  message        text NOT NULL,
  gap_since      timestamptz,
  raised_at      timestamptz NOT NULL DEFAULT now(),
  last_raised_at timestamptz NOT NULL DEFAULT now(),
  raise_count    integer NOT NULL DEFAULT 1,
  cleared_at     timestamptz,
  cleared_by     text
);
CREATE UNIQUE INDEX cdc_alarm_open_idx ON diskinv.cdc_alarm (app, kind) WHERE cleared_at IS NULL;

CREATE FUNCTION diskinv.tg_alarm_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('diskinv_alarm', NEW.app || ' ' || NEW.kind);
  RETURN NULL;
END $$;
CREATE TRIGGER cdc_alarm_notify AFTER INSERT ON diskinv.cdc_alarm
  FOR EACH ROW EXECUTE FUNCTION diskinv.tg_alarm_notify();

-- Pools and the policies that fill them.
CREATE TABLE diskinv.pool (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name          text NOT NULL UNIQUE,
  description   text NOT NULL DEFAULT '',
  max_disks     integer CHECK (max_disks IS NULL OR max_disks >= 0),  -- NULL: no limit
  release_grace interval NOT NULL DEFAULT '1 hour' CHECK (release_grace >= interval '0'),
  created_at    timestamptz NOT NULL DEFAULT now(),
  generation    bigint NOT NULL DEFAULT 1,
  etag          text NOT NULL DEFAULT '',
  cdc_inserted  timestamptz,
  cdc_updated   timestamptz
);

-- A selector (every non-NULL criterion must hold) and the pool its disks go to. Patterns are
-- shell globs (fnmatch). Policies are tried by priority (lower first), then id.
CREATE TABLE diskinv.pool_policy (
  id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name                  text NOT NULL UNIQUE,
  pool_id               bigint NOT NULL REFERENCES diskinv.pool (id) ON DELETE CASCADE,
  priority              integer NOT NULL DEFAULT 100,
  enabled               boolean NOT NULL DEFAULT true,
  node_pattern          text,     -- node hostname
  kname_pattern         text,     -- kernel name: sd*, nvme*n1, loop*
  transport             text,     -- nvme, sata, sas, usb, virtio, ... (exact)
  rotational            boolean,
  min_size_bytes        bigint,
  max_size_bytes        bigint,
  model_pattern         text,
  vendor_pattern        text,
  require_unpartitioned boolean NOT NULL DEFAULT true,
  require_no_holders    boolean NOT NULL DEFAULT true,  -- nothing (dm, md, ...) built on it
  max_per_node          integer CHECK (max_per_node IS NULL OR max_per_node >= 0),
  generation            bigint NOT NULL DEFAULT 1,
  etag                  text NOT NULL DEFAULT '',
  cdc_inserted          timestamptz,
  cdc_updated           timestamptz,
  CHECK (min_size_bytes IS NULL OR max_size_bytes IS NULL OR min_size_bytes <= max_size_bytes)
);
CREATE INDEX pool_policy_pool_idx ON diskinv.pool_policy (pool_id);

-- The current claim of a disk: at most one (the primary key), so a disk is claimed exactly
-- once however many times its events are delivered.
CREATE TABLE diskinv.disk_claim (
  disk_id    bigint PRIMARY KEY REFERENCES diskinv.disk (id),
  disk_uid   text NOT NULL,
  node_id    bigint NOT NULL REFERENCES diskinv.node (id),
  pool_id    bigint NOT NULL REFERENCES diskinv.pool (id),
  policy_id  bigint REFERENCES diskinv.pool_policy (id) ON DELETE SET NULL,
  claimed_at timestamptz NOT NULL DEFAULT now(),
  generation bigint NOT NULL DEFAULT 1,
  etag       text NOT NULL DEFAULT ''
);
CREATE INDEX disk_claim_pool_idx ON diskinv.disk_claim (pool_id, node_id);

-- Released claims, for people and audits.
CREATE TABLE diskinv.disk_claim_history (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  disk_id     bigint NOT NULL,
  disk_uid    text NOT NULL,
  node_id     bigint NOT NULL,
  pool_id     bigint NOT NULL,
  pool_name   text NOT NULL,
  policy_id   bigint,
  claimed_at  timestamptz NOT NULL,
  released_at timestamptz NOT NULL DEFAULT now(),
  reason      text NOT NULL
);
CREATE INDEX disk_claim_history_disk_idx ON diskinv.disk_claim_history (disk_id);

-- Queue tuning profiles: a selector (as pool_policy, plus the pool the disk is claimed into)
-- and the desired queue attributes, {"scheduler": "mq-deadline", "nr_requests": "64", ...}.
-- The first enabled matching profile by priority wins. drift_action: what an agent does when
-- it finds a value changed behind its back (repair it, or only report it).
CREATE TABLE diskinv.tuning_profile (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name           text NOT NULL UNIQUE,
  priority       integer NOT NULL DEFAULT 100,
  enabled        boolean NOT NULL DEFAULT true,
  pool_id        bigint REFERENCES diskinv.pool (id) ON DELETE CASCADE,
  node_pattern   text,
  kname_pattern  text,
  transport      text,
  rotational     boolean,
  min_size_bytes bigint,
  max_size_bytes bigint,
  model_pattern  text,
  vendor_pattern text,
  settings       jsonb NOT NULL CHECK (jsonb_typeof(settings) = 'object'),
  drift_action   text NOT NULL DEFAULT 'repair' CHECK (drift_action IN ('repair', 'report')),
  generation     bigint NOT NULL DEFAULT 1,
  etag           text NOT NULL DEFAULT '',
  cdc_inserted   timestamptz,
  cdc_updated    timestamptz
);

-- Per disk: the desired tuning (reconciler) and what the node's agent observed (agent).
-- desired_generation moves when desired changes; applied_generation is the one the agent last
-- acted on. rejected: attribute -> reason the agent did not apply it; drift: attribute ->
-- {"desired", "observed"} found on a resync.
CREATE TABLE diskinv.disk_tuning (
  disk_id            bigint PRIMARY KEY REFERENCES diskinv.disk (id),
  node_id            bigint NOT NULL REFERENCES diskinv.node (id),
  profile_id         bigint REFERENCES diskinv.tuning_profile (id) ON DELETE SET NULL,
  desired            jsonb NOT NULL DEFAULT '{}',
  drift_action       text NOT NULL DEFAULT 'repair' CHECK (drift_action IN ('repair', 'report')),
  desired_generation bigint NOT NULL DEFAULT 1,
  desired_at         timestamptz NOT NULL DEFAULT now(),
  observed           jsonb,
  rejected           jsonb,
  drift              jsonb,
  applied_generation bigint,
  observed_at        timestamptz,
  status             text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'applied', 'partial', 'rejected', 'drift',
                                       'error')),
  last_error         text,
  generation         bigint NOT NULL DEFAULT 1,
  etag               text NOT NULL DEFAULT '',
  cdc_inserted       timestamptz,
  cdc_updated        timestamptz
);
CREATE INDEX disk_tuning_node_idx ON diskinv.disk_tuning (node_id);

-- Agents LISTEN on diskinv_tuning; the payload is the node id whose desired state changed.
CREATE FUNCTION diskinv.tg_tuning_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' OR NEW.desired IS DISTINCT FROM OLD.desired OR
     NEW.drift_action IS DISTINCT FROM OLD.drift_action THEN
    PERFORM pg_notify('diskinv_tuning', NEW.node_id::text);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER disk_tuning_notify AFTER INSERT OR UPDATE ON diskinv.disk_tuning
  FOR EACH ROW EXECUTE FUNCTION diskinv.tg_tuning_notify();

CREATE TRIGGER pool_versioned BEFORE INSERT OR UPDATE ON diskinv.pool
  FOR EACH ROW EXECUTE FUNCTION diskinv.tg_versioned_row();
CREATE TRIGGER pool_policy_versioned BEFORE INSERT OR UPDATE ON diskinv.pool_policy
  FOR EACH ROW EXECUTE FUNCTION diskinv.tg_versioned_row();
CREATE TRIGGER tuning_profile_versioned BEFORE INSERT OR UPDATE ON diskinv.tuning_profile
  FOR EACH ROW EXECUTE FUNCTION diskinv.tg_versioned_row();
CREATE TRIGGER disk_tuning_versioned BEFORE INSERT OR UPDATE ON diskinv.disk_tuning
  FOR EACH ROW EXECUTE FUNCTION diskinv.tg_versioned_row();

-- Views for people.
CREATE VIEW diskinv.claims_v AS
  SELECT p.name AS pool, n.hostname, d.kname, d.uid, d.state, d.removed_at, pp.name AS policy,
         c.claimed_at
  FROM diskinv.disk_claim c JOIN diskinv.disk d ON d.id = c.disk_id
  JOIN diskinv.pool p ON p.id = c.pool_id JOIN diskinv.node n ON n.id = c.node_id
  LEFT JOIN diskinv.pool_policy pp ON pp.id = c.policy_id;

CREATE VIEW diskinv.tuning_v AS
  SELECT n.hostname, d.kname, tp.name AS profile, t.status, t.desired, t.observed, t.rejected,
         t.drift, t.desired_generation, t.applied_generation, t.observed_at
  FROM diskinv.disk_tuning t JOIN diskinv.disk d ON d.id = t.disk_id
  JOIN diskinv.node n ON n.id = t.node_id
  LEFT JOIN diskinv.tuning_profile tp ON tp.id = t.profile_id;
