-- Better Auth's user table, as `auth migrate` creates it, for databases where the
-- auth core has not created it yet. Harmless when it is already there.
CREATE TABLE IF NOT EXISTS better_auth."user" (
    id text NOT NULL PRIMARY KEY,
    name text NOT NULL,
    email text NOT NULL UNIQUE,
    "emailVerified" boolean NOT NULL,
    image text,
    "createdAt" timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    "updatedAt" timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL
);
