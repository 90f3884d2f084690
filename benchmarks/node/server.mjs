// The reference Better Auth server the benchmarks measure rowgate against.
//
// Configured as a linked project's auth.ts is (pg Pool on DATABASE_URL with
// search_path set as a startup parameter, email and password enabled, no
// plugins), on Node's own http server in one process. Rate limiting is off, as
// it is on the rowgate side, so that a benchmark measures work, not refusals.
// Environment: DATABASE_URL, BETTER_AUTH_SECRET, BETTER_AUTH_URL, PORT, POOL_SIZE.
import { createServer } from "node:http";

import { betterAuth } from "better-auth";
import { toNodeHandler } from "better-auth/node";
import pg from "pg";

function requireEnv(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`missing environment variable ${name}`);
    process.exit(2);
  }
  return value;
}

const pool = new pg.Pool({
  connectionString: requireEnv("DATABASE_URL"),
  max: Number(process.env.POOL_SIZE || "10"),
  options: "-c search_path=better_auth,public",
});

const auth = betterAuth({
  database: pool,
  secret: requireEnv("BETTER_AUTH_SECRET"),
  baseURL: requireEnv("BETTER_AUTH_URL"),
  emailAndPassword: { enabled: true },
  rateLimit: { enabled: false },
  telemetry: { enabled: false },
});

const handler = toNodeHandler(auth);
const server = createServer((req, res) => {
  if (req.url === "/health") {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("ok");
    return;
  }
  handler(req, res);
});

server.keepAliveTimeout = 65_000;
server.listen(Number(requireEnv("PORT")), "127.0.0.1", () => {
  console.log(`better-auth listening on ${server.address().port}`);
});

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections();
    pool.end().finally(() => process.exit(0));
  });
}
