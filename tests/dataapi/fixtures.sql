-- Tables, policies and functions the data API tests run against. Loaded once per
-- session by the database owner on top of the bootstrap migration. The tables
-- belong to dataapi_owner, which the authenticator cannot become, so RLS applies.

DO $fixture$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dataapi_owner') THEN
        CREATE ROLE dataapi_owner NOLOGIN;
    END IF;
END
$fixture$;

CREATE TABLE public.categories (
    id integer PRIMARY KEY,
    name text NOT NULL UNIQUE
);

CREATE TABLE public.notes (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id text NOT NULL DEFAULT public.requesting_user_id(),
    title text NOT NULL CHECK (title <> ''),
    body text NOT NULL DEFAULT '',
    score integer,
    category_id integer REFERENCES public.categories (id),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE public.comments (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    note_id bigint NOT NULL REFERENCES public.notes (id) ON DELETE CASCADE,
    user_id text NOT NULL DEFAULT public.requesting_user_id(),
    body text NOT NULL
);

-- Readable by everyone, writable by nobody: fixed data for the grammar tests.
CREATE TABLE public.items (
    id integer PRIMARY KEY,
    name text NOT NULL,
    kind text,
    price numeric(8, 2),
    tags text[] NOT NULL DEFAULT '{}',
    attrs jsonb,
    active boolean,
    span int4range,
    doc tsvector,
    "odd, name" text
);

-- Anyone may drop a message in, nobody may read one back.
CREATE TABLE public.inbox (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message text NOT NULL
);

CREATE TABLE public.upserts (
    key text PRIMARY KEY,
    value integer NOT NULL,
    note text DEFAULT 'default note'
);

CREATE TABLE better_auth.secrets (id integer PRIMARY KEY, value text);

INSERT INTO public.categories VALUES (1, 'work'), (2, 'home'), (3, 'empty');

INSERT INTO public.items (id, name, kind, price, tags, attrs, active, span, doc, "odd, name")
VALUES
    (1, 'apple', 'fruit', 1.50, '{red,sweet}', '{"color": "red", "size": {"cm": 8}}',
     true, '[1,5)', to_tsvector('english', 'crisp red apple'), 'a'),
    (2, 'banana', 'fruit', 0.25, '{yellow,sweet}', '{"color": "yellow"}',
     false, '[5,10)', to_tsvector('english', 'long yellow banana'), 'b'),
    (3, 'carrot', 'vegetable', 0.40, '{orange}', '{"color": "orange"}',
     NULL, '[10,20)', to_tsvector('english', 'orange carrot root'), 'c'),
    (4, 'dill, fresh', NULL, NULL, '{}', NULL,
     true, NULL, NULL, NULL),
    (5, 'egg "large"', 'dairy', 3.00, '{white}', '{"color": "white"}',
     false, '[2,3)', to_tsvector('english', 'large white egg'), 'e');

ALTER TABLE public.categories OWNER TO dataapi_owner;
ALTER TABLE public.notes OWNER TO dataapi_owner;
ALTER TABLE public.comments OWNER TO dataapi_owner;
ALTER TABLE public.items OWNER TO dataapi_owner;
ALTER TABLE public.inbox OWNER TO dataapi_owner;
ALTER TABLE public.upserts OWNER TO dataapi_owner;

REVOKE ALL ON public.categories, public.notes, public.comments, public.items,
    public.inbox, public.upserts FROM anon, authenticated;
GRANT SELECT ON public.categories, public.items TO anon, authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON public.notes, public.comments, public.upserts
    TO authenticated;
GRANT INSERT ON public.inbox TO anon, authenticated;

ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY notes_own ON public.notes FOR ALL TO authenticated
    USING (user_id = public.requesting_user_id())
    WITH CHECK (user_id = public.requesting_user_id());

ALTER TABLE public.comments ENABLE ROW LEVEL SECURITY;
CREATE POLICY comments_own ON public.comments FOR ALL TO authenticated
    USING (user_id = public.requesting_user_id())
    WITH CHECK (user_id = public.requesting_user_id());

-- A note's title starting with 'hidden' may be written but never read back.
CREATE POLICY notes_hidden ON public.notes AS RESTRICTIVE FOR SELECT TO authenticated
    USING (title NOT LIKE 'hidden%');

ALTER TABLE public.inbox ENABLE ROW LEVEL SECURITY;
CREATE POLICY inbox_drop ON public.inbox FOR INSERT TO anon, authenticated
    WITH CHECK (true);

CREATE FUNCTION public.add_them(a integer, b integer) RETURNS integer
    LANGUAGE sql IMMUTABLE AS $$ SELECT a + b $$;

CREATE FUNCTION public.items_of_kind(kind text) RETURNS SETOF public.items
    LANGUAGE sql STABLE AS $$ SELECT * FROM public.items i WHERE i.kind = items_of_kind.kind $$;

CREATE FUNCTION public.request_settings() RETURNS json
    LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'claims', current_setting('request.jwt.claims', true),
        'method', current_setting('request.method', true),
        'path', current_setting('request.path', true),
        'headers', current_setting('request.headers', true),
        'cookies', current_setting('request.cookies', true),
        'role', current_user,
        'user_id', public.requesting_user_id())
$$;

CREATE FUNCTION public.touch(label text DEFAULT 'x') RETURNS void
    LANGUAGE sql VOLATILE AS $$ SELECT $$;

CREATE FUNCTION public.teapot() RETURNS integer
    LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM set_config('response.status', '418', true);
    PERFORM set_config('response.headers', '[{"X-Brew": "tea"}]', true);
    RETURN 1;
END
$$;

CREATE FUNCTION public.payment_required() RETURNS integer
    LANGUAGE plpgsql STABLE AS $$
BEGIN
    RAISE SQLSTATE 'PT402' USING MESSAGE = 'pay up', DETAIL = 'quota', HINT = 'upgrade';
END
$$;

-- Shops stock items through a junction table: a many-to-many relationship.
CREATE TABLE public.shops (
    id integer PRIMARY KEY,
    name text NOT NULL
);

CREATE TABLE public.item_shops (
    item_id integer REFERENCES public.items (id),
    shop_id integer REFERENCES public.shops (id),
    PRIMARY KEY (item_id, shop_id)
);

INSERT INTO public.shops VALUES (1, 'market'), (2, 'corner'), (3, 'closed');
INSERT INTO public.item_shops VALUES (1, 1), (2, 1), (3, 1), (1, 2), (5, 2);

-- PUT targets: a composite primary key, and a table with none.
CREATE TABLE public.pairs (
    a integer,
    b integer,
    v text,
    PRIMARY KEY (a, b)
);

CREATE TABLE public.keyless (v text);

ALTER TABLE public.shops OWNER TO dataapi_owner;
ALTER TABLE public.item_shops OWNER TO dataapi_owner;
ALTER TABLE public.pairs OWNER TO dataapi_owner;
ALTER TABLE public.keyless OWNER TO dataapi_owner;
REVOKE ALL ON public.shops, public.item_shops, public.pairs, public.keyless
    FROM anon, authenticated;
GRANT SELECT ON public.shops, public.item_shops TO anon, authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON public.pairs, public.keyless TO authenticated;

CREATE FUNCTION public.current_tz() RETURNS text
    LANGUAGE sql STABLE AS $$ SELECT current_setting('TimeZone') $$;

-- The pre-request function of the tests that configure one: refuses a request
-- carrying "X-Block: yes" and marks every other response.
CREATE FUNCTION public.check_request() RETURNS void
    LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF current_setting('request.headers', true)::json ->> 'x-block' = 'yes' THEN
        RAISE SQLSTATE 'PT403' USING MESSAGE = 'blocked by pre-request';
    END IF;
    PERFORM set_config('response.headers', '[{"X-Pre-Request": "ran"}]', true);
END
$$;

-- A second schema, exposed only where the configuration lists it.
CREATE SCHEMA extra;
CREATE TABLE extra.widgets (
    id integer PRIMARY KEY,
    name text NOT NULL
);
INSERT INTO extra.widgets VALUES (1, 'sprocket');
ALTER TABLE extra.widgets OWNER TO dataapi_owner;
GRANT USAGE ON SCHEMA extra TO anon, authenticated;
GRANT SELECT ON extra.widgets TO anon, authenticated;
GRANT INSERT ON extra.widgets TO authenticated;

-- Two foreign keys to the same table: embedding needs a hint.
CREATE TABLE public.transfers (
    id integer PRIMARY KEY,
    from_shop integer NOT NULL REFERENCES public.shops (id),
    to_shop integer NOT NULL REFERENCES public.shops (id)
);
INSERT INTO public.transfers VALUES (1, 1, 2);
ALTER TABLE public.transfers OWNER TO dataapi_owner;
REVOKE ALL ON public.transfers FROM anon, authenticated;
GRANT SELECT ON public.transfers TO anon, authenticated;

CREATE FUNCTION public.echo_json(doc jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE AS $$ SELECT doc $$;

-- Response settings a function may leave behind, valid and not.
CREATE FUNCTION public.respond_with(status text, headers text) RETURNS integer
    LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM set_config('response.status', status, true);
    PERFORM set_config('response.headers', headers, true);
    RETURN 1;
END
$$;

CREATE FUNCTION public.sum_all(VARIADIC vals integer[]) RETURNS integer
    LANGUAGE sql IMMUTABLE AS $$ SELECT coalesce(sum(v), 0)::integer FROM unnest(vals) v $$;

CREATE FUNCTION public.count_tags(tags text[]) RETURNS integer
    LANGUAGE sql IMMUTABLE AS $$ SELECT cardinality(tags) $$;

-- A deferred foreign key: violations surface only when the transaction ends.
CREATE TABLE public.chain (
    id integer PRIMARY KEY,
    next_id integer REFERENCES public.chain (id) DEFERRABLE INITIALLY DEFERRED
);
ALTER TABLE public.chain OWNER TO dataapi_owner;
REVOKE ALL ON public.chain FROM anon, authenticated;
GRANT SELECT, INSERT ON public.chain TO authenticated;

-- Functions taking a whole raw body through one unnamed parameter.
CREATE FUNCTION public.shout(text) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT upper($1) $$;
CREATE FUNCTION public.byte_count(bytea) RETURNS integer
    LANGUAGE sql IMMUTABLE AS $$ SELECT length($1) $$;
CREATE FUNCTION public.xml_root(xml) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT (xpath('name(/*)', $1))[1]::text $$;

-- Views: their keys and relationships come from the tables they show. The notes
-- table lives in a schema the API does not expose; only its view is reachable.
CREATE SCHEMA hidden AUTHORIZATION dataapi_owner;
CREATE TABLE hidden.item_notes (
    item_id integer PRIMARY KEY REFERENCES public.items (id),
    note text NOT NULL
);
INSERT INTO hidden.item_notes VALUES (1, 'keeps a week'), (3, 'peel first');
ALTER TABLE hidden.item_notes OWNER TO dataapi_owner;

CREATE VIEW public.item_notes AS SELECT item_id, note FROM hidden.item_notes;
CREATE VIEW public.cheap_items AS
    SELECT id AS item_id, name, price, upper(name) AS loud FROM public.items
    WHERE price < 1;
-- A view on a view, and one that shows its key only through an expression.
CREATE VIEW public.cheap_names AS SELECT item_id, name FROM public.cheap_items;
CREATE VIEW public.item_labels AS SELECT id::text AS item_id, name FROM public.items;
-- A join: each side's keys are shown by the columns that come from it.
CREATE VIEW public.shop_stock AS
    SELECT s.id AS shop, st.item_id, (SELECT 1) AS one
    FROM public.shops s JOIN public.item_shops st ON st.shop_id = s.id;

ALTER VIEW public.item_notes OWNER TO dataapi_owner;
ALTER VIEW public.cheap_items OWNER TO dataapi_owner;
ALTER VIEW public.cheap_names OWNER TO dataapi_owner;
ALTER VIEW public.item_labels OWNER TO dataapi_owner;
ALTER VIEW public.shop_stock OWNER TO dataapi_owner;
GRANT SELECT ON public.item_notes, public.cheap_items, public.cheap_names,
    public.item_labels, public.shop_stock TO anon, authenticated;
