-- rowgate: as-owner
-- rowgate bootstrap: the schema Better Auth's tables live in, the roles the data API
-- switches between, their privileges on `public`, and requesting_user_id() for RLS.
-- Idempotent: safe to apply to a database that already has any part of it.

CREATE SCHEMA IF NOT EXISTS better_auth;

-- pgcrypto gives gen_random_uuid() on servers older than 13 and digest()/crypt() to
-- application SQL. The embedded server ships without it, so its absence is a notice.
DO $bootstrap$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pgcrypto') THEN
        CREATE EXTENSION IF NOT EXISTS pgcrypto;
    ELSE
        RAISE NOTICE 'pgcrypto is not available on this server; skipped';
    END IF;
END
$bootstrap$;

-- Roles are cluster-wide, so every CREATE is guarded: a second database on the same
-- server (tests, a Node app sharing the cluster) finds them already there.
DO $bootstrap$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
        CREATE ROLE anon NOLOGIN NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
        CREATE ROLE authenticated NOLOGIN NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'project_admin') THEN
        CREATE ROLE project_admin NOLOGIN BYPASSRLS;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticator') THEN
        CREATE ROLE authenticator LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE
            NOREPLICATION;
    END IF;
END
$bootstrap$;

-- Re-assert the attributes that matter for safety, in case the roles pre-existed with
-- looser ones.
ALTER ROLE anon NOLOGIN NOSUPERUSER NOBYPASSRLS;
ALTER ROLE authenticated NOLOGIN NOSUPERUSER NOBYPASSRLS;
ALTER ROLE project_admin NOLOGIN NOSUPERUSER BYPASSRLS;
ALTER ROLE authenticator LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE
    NOREPLICATION NOBYPASSRLS;

-- The authenticator may become exactly these roles, and nothing else; project_admin is
-- reached only through the backend's admin pool, never through a token.
GRANT anon TO authenticator;
GRANT authenticated TO authenticator;

-- Whoever runs migrations must be able to SET ROLE project_admin.
GRANT project_admin TO CURRENT_USER;

GRANT USAGE ON SCHEMA public TO anon, authenticated;
GRANT USAGE, CREATE ON SCHEMA public TO project_admin;
DO $bootstrap$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO authenticator', current_database());
END
$bootstrap$;

GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public
    TO anon, authenticated;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO anon, authenticated;
GRANT ALL ON ALL TABLES IN SCHEMA public TO project_admin;
GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO project_admin;

-- Tables created later, by migrations (as project_admin) or by the owner directly.
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO anon, authenticated;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO anon, authenticated;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO project_admin;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO project_admin;
ALTER DEFAULT PRIVILEGES FOR ROLE project_admin IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO anon, authenticated;
ALTER DEFAULT PRIVILEGES FOR ROLE project_admin IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO anon, authenticated;

-- better_auth holds password hashes and session tokens: the data API's roles get
-- nothing there, not even USAGE.
REVOKE ALL ON SCHEMA better_auth FROM PUBLIC, anon, authenticated;

-- Migrations (run as project_admin) declare foreign keys to better_auth."user", which
-- takes USAGE on the schema and REFERENCES on the table, and nothing more: no read.
GRANT USAGE ON SCHEMA better_auth TO project_admin;
GRANT REFERENCES ON ALL TABLES IN SCHEMA better_auth TO project_admin;
ALTER DEFAULT PRIVILEGES IN SCHEMA better_auth
    GRANT REFERENCES ON TABLES TO project_admin;

-- The id of the user a request runs for, as text because Better Auth ids are not
-- UUIDs. missing_ok makes an unset setting NULL; NULLIF turns an empty one into NULL.
CREATE OR REPLACE FUNCTION public.requesting_user_id()
    RETURNS text
    LANGUAGE sql
    STABLE
AS $fn$
    SELECT NULLIF(
        NULLIF(current_setting('request.jwt.claims', true), '')::json ->> 'sub',
        ''
    )::text
$fn$;

GRANT EXECUTE ON FUNCTION public.requesting_user_id() TO anon, authenticated;

NOTIFY pgrst, 'reload schema';
