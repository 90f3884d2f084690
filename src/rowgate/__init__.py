"""rowgate: Better Auth-compatible auth, an HS256 bridge and a PostgREST-compatible
data API, all over one Postgres guarded by row level security."""

__version__ = "0.1.0"
