// Asks Better Auth what it would migrate in an existing better_auth schema and
// prints {"toBeCreated": [table...], "toBeAdded": [table...]} as JSON; both
// lists are empty when the schema already has everything Better Auth needs.
//
// Environment: BA_DATABASE_URL (the schema is better_auth).
import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import pg from "pg";

const pool = new pg.Pool({
  connectionString: process.env.BA_DATABASE_URL,
  options: "-c search_path=better_auth",
  max: 1,
});
const auth = betterAuth({
  database: pool,
  secret: "migration-check-only-secret-0123456789abcdef",
  baseURL: "http://127.0.0.1",
  emailAndPassword: { enabled: true },
  logger: { disabled: true },
  telemetry: { enabled: false },
});
const { toBeCreated, toBeAdded } = await getMigrations(auth.options);
process.stdout.write(
  JSON.stringify({
    toBeCreated: toBeCreated.map((t) => t.table),
    toBeAdded: toBeAdded.map((t) => t.table),
  }) + "\n",
);
await pool.end();
