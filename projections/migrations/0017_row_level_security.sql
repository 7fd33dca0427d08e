-- Row-level security on every tenant-scoped read model (rules PR4; source 002 §b: every table has
-- RLS). The read API runs each request in a transaction as `souk_reader` with `souk.tenant` set
-- for that transaction only (`SET LOCAL ROLE`, `set_config(..., true)`); the policy shows that
-- role only the rows of that tenant, and none when no tenant is named. The sinks write as the
-- tables' owner, which policies do not restrict. A table added later with a `tenant_id` column
-- needs the same policy: `tests/projections_rls.rs` fails for any that lacks it.

-- The role is made by whoever administers the cluster (`./dev` does, as `postgres`): souk's own
-- user needs no CREATEROLE, only membership of the role.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'souk_reader') THEN
        BEGIN
            CREATE ROLE souk_reader NOLOGIN NOBYPASSRLS;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN NULL;
            WHEN insufficient_privilege THEN
                RAISE EXCEPTION 'role souk_reader is missing: as a superuser run CREATE ROLE souk_reader NOLOGIN NOBYPASSRLS; GRANT souk_reader TO %;', current_user;
        END;
    END IF;
    IF NOT pg_has_role(current_user, 'souk_reader', 'MEMBER') THEN
        BEGIN
            EXECUTE format('GRANT souk_reader TO %I', current_user);
        EXCEPTION
            WHEN insufficient_privilege THEN
                RAISE EXCEPTION 'the read API switches to role souk_reader: as a superuser run GRANT souk_reader TO %;', current_user;
        END;
    END IF;
END
$$;

DO $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO souk_reader', current_schema());
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO souk_reader', current_schema());
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT ON TABLES TO souk_reader', current_schema());
END
$$;

DO $$
DECLARE
    t record;
BEGIN
    FOR t IN
        SELECT c.table_name FROM information_schema.columns c
        JOIN information_schema.tables tb ON tb.table_schema = c.table_schema AND tb.table_name = c.table_name AND tb.table_type = 'BASE TABLE'
        WHERE c.table_schema = current_schema() AND c.column_name = 'tenant_id'
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t.table_name);
        IF NOT EXISTS (SELECT 1 FROM pg_policies WHERE schemaname = current_schema() AND tablename = t.table_name AND policyname = 'tenant_isolation') THEN
            EXECUTE format('CREATE POLICY tenant_isolation ON %I FOR ALL TO souk_reader USING (tenant_id = current_setting(''souk.tenant'', true))', t.table_name);
        END IF;
    END LOOP;
END
$$;
