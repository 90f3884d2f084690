-- rowgate demo: public.posts, one row per post, each owned by a Better Auth user.
-- Row level security is the only boundary: the data API runs every request as
-- `authenticated` (or `anon`) with the bridge token's claims set, and the policies
-- below compare user_id with requesting_user_id(). Runs as project_admin in one
-- transaction; re-running it on a database that has the table changes nothing.

CREATE TABLE IF NOT EXISTS public.posts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id text NOT NULL DEFAULT public.requesting_user_id()
        REFERENCES better_auth."user" (id) ON DELETE CASCADE,
    title text NOT NULL
        CONSTRAINT posts_title_length CHECK (char_length(btrim(title)) BETWEEN 1 AND 200),
    body text NOT NULL DEFAULT ''
        CONSTRAINT posts_body_length CHECK (char_length(body) <= 20000),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS posts_user_id_idx ON public.posts (user_id);

ALTER TABLE public.posts ENABLE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS posts_select_own ON public.posts;
CREATE POLICY posts_select_own ON public.posts
    FOR SELECT TO authenticated
    USING (user_id = public.requesting_user_id());

DROP POLICY IF EXISTS posts_insert_own ON public.posts;
CREATE POLICY posts_insert_own ON public.posts
    FOR INSERT TO authenticated
    WITH CHECK (user_id = public.requesting_user_id());

DROP POLICY IF EXISTS posts_update_own ON public.posts;
CREATE POLICY posts_update_own ON public.posts
    FOR UPDATE TO authenticated
    USING (user_id = public.requesting_user_id())
    WITH CHECK (user_id = public.requesting_user_id());

DROP POLICY IF EXISTS posts_delete_own ON public.posts;
CREATE POLICY posts_delete_own ON public.posts
    FOR DELETE TO authenticated
    USING (user_id = public.requesting_user_id());

-- The bootstrap's default privileges would give anon the same rights as
-- authenticated; a signed-out visitor has no business here, so anon gets nothing
-- and no policy names it.
GRANT SELECT, INSERT, UPDATE, DELETE ON public.posts TO authenticated;
REVOKE ALL ON public.posts FROM anon;

NOTIFY pgrst, 'reload schema';
