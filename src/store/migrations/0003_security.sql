-- diskinv schema, version 3: database roles and row-level security over the tables of versions 1
-- (observed state) and 2 (CDC bookkeeping, pools, tuning). See docs/security.md.
--
-- Group roles (NOLOGIN); people and services log in with their own roles, members of these:
--   diskinv_agent       one login role per node (enrolled with diskinv.enroll_node): inserts and
--                       updates only its own node's rows, reads only those (and tombstones,
--                       which a disk that moved in adopts); deletes nothing; reads the desired
--                       tuning of its own disks and writes only the observed half of it;
--   diskinv_controller  the reconciler: reads every observed row, writes nothing observed;
--                       writes claims, desired tuning and its CDC bookkeeping (its login role
--                       also needs REPLICATION for the slot);
--   diskinv_reader      people and dashboards: reads everything.
-- The owner of the tables (the role that runs `diskinv db migrate`) bypasses row-level security
-- as owners do; superusers too. Roles are cluster-wide: created only when missing, so the
-- migration applies to several databases of one cluster.
DO $$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['diskinv_agent', 'diskinv_controller', 'diskinv_reader'] LOOP
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('CREATE ROLE %I NOLOGIN', r);
    END IF;
  END LOOP;
END $$;

-- Which login role is which node: written by the operator when a node is enrolled, before the
-- node's agent first registers. One role per machine-id and one machine-id per role.
CREATE TABLE diskinv.node_credential (
  role_name   name PRIMARY KEY,
  machine_id  text NOT NULL UNIQUE,
  enrolled_at timestamptz NOT NULL DEFAULT now()
);

-- The machine-id and node id of the calling role; NULL for any role that is not an enrolled
-- node (so every policy below is false for it). Policies call them as (SELECT f()): evaluated
-- once per statement, not once per row.
CREATE FUNCTION diskinv.current_machine_id() RETURNS text LANGUAGE sql STABLE
  SET search_path = pg_catalog AS
  $$ SELECT machine_id FROM diskinv.node_credential WHERE role_name = current_user $$;
CREATE FUNCTION diskinv.current_node_id() RETURNS bigint LANGUAGE sql STABLE
  SET search_path = pg_catalog AS
  $$ SELECT id FROM diskinv.node WHERE machine_id = diskinv.current_machine_id() $$;

-- Enrolls login role `role_name` as the node with `machine_id` (run by an administrator with
-- CREATEROLE or the admin option on diskinv_agent): membership in diskinv_agent and the
-- credential row. Idempotent; re-enrolling a role for another machine-id moves it.
CREATE FUNCTION diskinv.enroll_node(role_name name, machine_id text) RETURNS void
  LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
  IF machine_id !~ '^[0-9a-zA-Z._:-]{1,128}$' THEN
    RAISE EXCEPTION 'enroll_node: machine_id % is not a machine id', quote_literal(machine_id)
      USING ERRCODE = '22023';
  END IF;
  EXECUTE format('GRANT diskinv_agent TO %I', role_name);
  INSERT INTO diskinv.node_credential AS c (role_name, machine_id)
    VALUES (enroll_node.role_name, enroll_node.machine_id)
    ON CONFLICT ON CONSTRAINT node_credential_pkey
    DO UPDATE SET machine_id = EXCLUDED.machine_id, enrolled_at = now();
END $$;
REVOKE ALL ON FUNCTION diskinv.enroll_node(name, text) FROM PUBLIC;

-- Where the disks with these uids are (node id and state), for an agent that observes them:
-- knowing a uid means holding the disk, so this reveals nothing else about other nodes. The
-- store needs it to tell "moved in from another node" (tombstone: adopt it) from "present on
-- another node" (a shared or duplicated identifier: record a conflict, write nothing).
CREATE FUNCTION diskinv.disk_locations(uids text[])
  RETURNS TABLE (uid text, tbl text, node_id bigint, state text)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
  SELECT d.uid, 'disk', d.node_id, d.state FROM diskinv.disk d WHERE d.uid = ANY(uids)
  UNION ALL
  SELECT p.uid, 'partition', p.node_id, p.state FROM diskinv.partition p WHERE p.uid = ANY(uids)
$$;
REVOKE ALL ON FUNCTION diskinv.disk_locations(text[]) FROM PUBLIC;

GRANT USAGE ON SCHEMA diskinv TO diskinv_agent, diskinv_controller, diskinv_reader;
GRANT EXECUTE ON FUNCTION diskinv.current_machine_id(), diskinv.current_node_id(),
  diskinv.disk_locations(text[]) TO diskinv_agent;
GRANT SELECT ON diskinv.schema_migration TO diskinv_agent, diskinv_controller, diskinv_reader;

-- Agents: no DELETE (rows become tombstones), no TRUNCATE.
GRANT SELECT ON diskinv.node_credential TO diskinv_agent;
GRANT SELECT, INSERT, UPDATE ON diskinv.node, diskinv.disk, diskinv.partition, diskinv.holder,
  diskinv.identity_conflict TO diskinv_agent;
GRANT SELECT ON diskinv.disk_tuning TO diskinv_agent;
GRANT UPDATE (observed, rejected, drift, status, applied_generation, last_error, observed_at)
  ON diskinv.disk_tuning TO diskinv_agent;
GRANT SELECT ON diskinv.node, diskinv.disk, diskinv.partition, diskinv.holder,
  diskinv.identity_conflict, diskinv.node_credential, diskinv.pool, diskinv.pool_policy,
  diskinv.disk_claim, diskinv.disk_claim_history, diskinv.tuning_profile, diskinv.disk_tuning,
  diskinv.cdc_consumer, diskinv.cdc_alarm TO diskinv_controller, diskinv_reader;
GRANT INSERT, UPDATE, DELETE ON diskinv.disk_claim, diskinv.disk_claim_history,
  diskinv.disk_tuning, diskinv.cdc_consumer, diskinv.cdc_alarm TO diskinv_controller;
GRANT SELECT ON diskinv.disks_v, diskinv.partitions_v, diskinv.stack_v, diskinv.nodes_v,
  diskinv.conflicts_v, diskinv.claims_v, diskinv.tuning_v TO diskinv_controller, diskinv_reader;

-- Views run with the privileges and policies of the caller, not of their owner.
ALTER VIEW diskinv.disks_v SET (security_invoker = true);
ALTER VIEW diskinv.partitions_v SET (security_invoker = true);
ALTER VIEW diskinv.stack_v SET (security_invoker = true);
ALTER VIEW diskinv.nodes_v SET (security_invoker = true);
ALTER VIEW diskinv.conflicts_v SET (security_invoker = true);
ALTER VIEW diskinv.claims_v SET (security_invoker = true);
ALTER VIEW diskinv.tuning_v SET (security_invoker = true);

ALTER TABLE diskinv.node_credential ENABLE ROW LEVEL SECURITY;
ALTER TABLE diskinv.node ENABLE ROW LEVEL SECURITY;
ALTER TABLE diskinv.disk ENABLE ROW LEVEL SECURITY;
ALTER TABLE diskinv.partition ENABLE ROW LEVEL SECURITY;
ALTER TABLE diskinv.holder ENABLE ROW LEVEL SECURITY;
ALTER TABLE diskinv.identity_conflict ENABLE ROW LEVEL SECURITY;
ALTER TABLE diskinv.disk_tuning ENABLE ROW LEVEL SECURITY;

CREATE POLICY own_credential ON diskinv.node_credential FOR SELECT TO diskinv_agent
  USING (role_name = current_user);

CREATE POLICY own_node ON diskinv.node FOR ALL TO diskinv_agent
  USING (machine_id = (SELECT diskinv.current_machine_id()))
  WITH CHECK (machine_id = (SELECT diskinv.current_machine_id()));

-- disk, partition and holder: a node reads and writes its own rows; it may also read tombstones
-- of any node and take one over (a disk moved in), after which the row is its own. A row
-- present on another node is invisible and cannot be written (an upsert onto it is an error).
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['disk', 'partition', 'holder'] LOOP
    EXECUTE format('CREATE POLICY own_%1$s_read ON diskinv.%1$I FOR SELECT TO diskinv_agent '
                   'USING (node_id = (SELECT diskinv.current_node_id()) OR state = ''removed'')', t);
    EXECUTE format('CREATE POLICY own_%1$s_insert ON diskinv.%1$I FOR INSERT TO diskinv_agent '
                   'WITH CHECK (node_id = (SELECT diskinv.current_node_id()))', t);
    EXECUTE format('CREATE POLICY own_%1$s_update ON diskinv.%1$I FOR UPDATE TO diskinv_agent '
                   'USING (node_id = (SELECT diskinv.current_node_id()) OR state = ''removed'') '
                   'WITH CHECK (node_id = (SELECT diskinv.current_node_id()))', t);
  END LOOP;
END $$;

CREATE POLICY own_conflict ON diskinv.identity_conflict FOR ALL TO diskinv_agent
  USING (node_id = (SELECT diskinv.current_node_id()))
  WITH CHECK (node_id = (SELECT diskinv.current_node_id()));

CREATE POLICY own_tuning ON diskinv.disk_tuning FOR ALL TO diskinv_agent
  USING (node_id = (SELECT diskinv.current_node_id()))
  WITH CHECK (node_id = (SELECT diskinv.current_node_id()));
CREATE POLICY controller_all ON diskinv.disk_tuning FOR ALL TO diskinv_controller
  USING (true) WITH CHECK (true);
CREATE POLICY read_all ON diskinv.disk_tuning FOR SELECT TO diskinv_reader USING (true);

-- Controller and readers see every row.
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['node_credential', 'node', 'disk', 'partition', 'holder',
                           'identity_conflict'] LOOP
    EXECUTE format('CREATE POLICY read_all ON diskinv.%I FOR SELECT '
                   'TO diskinv_controller, diskinv_reader USING (true)', t);
  END LOOP;
END $$;
