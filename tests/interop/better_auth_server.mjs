// A real Better Auth server for the interoperability tests.
//
// Settings come from the environment, so the pytest driver decides them:
//   BA_DATABASE_URL  Postgres URL; the tables live in schema better_auth
//   BA_SECRET        the shared secret
//   BA_PORT          port to listen on (127.0.0.1 only)
//   BA_COOKIE_CACHE  "off" (default), "compact" or "jwt"
//   BA_MIGRATE       "1" to create Better Auth's tables first
//   BA_RATE_LIMIT    "memory" or "database" to turn rate limiting on with
//                    that store (default: off)
// It prints one line, "listening <port>", once it accepts requests, and
// stops on SIGTERM or when its standard input closes (so it never outlives
// the test that started it).
import http from "node:http";
import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import { toNodeHandler } from "better-auth/node";
import pg from "pg";

const port = Number(process.env.BA_PORT);
const baseURL = `http://127.0.0.1:${port}`;
const cache = process.env.BA_COOKIE_CACHE ?? "off";

const pool = new pg.Pool({
  connectionString: process.env.BA_DATABASE_URL,
  options: "-c search_path=better_auth",
  max: 4,
});

const auth = betterAuth({
  database: pool,
  secret: process.env.BA_SECRET,
  baseURL,
  emailAndPassword: { enabled: true },
  rateLimit: process.env.BA_RATE_LIMIT
    ? { enabled: true, storage: process.env.BA_RATE_LIMIT }
    : { enabled: false },
  session:
    cache === "off"
      ? {}
      : { cookieCache: { enabled: true, strategy: cache, maxAge: 300 } },
  logger: { disabled: true },
  telemetry: { enabled: false },
});

if (process.env.BA_MIGRATE === "1") {
  const { runMigrations } = await getMigrations(auth.options);
  await runMigrations();
}

const server = http.createServer(toNodeHandler(auth));
server.listen(port, "127.0.0.1", () => {
  process.stdout.write(`listening ${port}\n`);
});

function stop() {
  server.close();
  pool.end().finally(() => process.exit(0));
}
process.on("SIGTERM", stop);
process.stdin.on("end", stop);
process.stdin.resume();
