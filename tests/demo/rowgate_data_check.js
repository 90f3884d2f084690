// Checks rowgate-data.js under Node against a fake bridge and data API.
// Run by test_rowgate_data_js.py: `node rowgate_data_check.js <path to helper>`.
// Prints one line per passing check and exits non-zero on the first failure.
"use strict";

const assert = require("node:assert/strict");
const fs = require("node:fs");
const vm = require("node:vm");

globalThis.window = globalThis;
globalThis.setTimeout = () => 0; // the helper's background refresh is not exercised here
globalThis.clearTimeout = () => {};
vm.runInThisContext(fs.readFileSync(process.argv[2], "utf8"));
const { createDataClient, DataApiError, tokenExpiry } = globalThis.rowgate;

const BACKEND = "http://127.0.0.1:7130";
const LIFETIME = 3600;

function base64url(value) {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

function json(status, body) {
  return new Response(body === undefined ? "" : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}

/* A bridge and a data API in one fetch, with a clock the checks move. */
function fakeServer() {
  const server = {
    now: 1_000_000_000,
    signedIn: true,
    refuseAll: false,
    revoked: new Set(),
    minted: 0,
    tokenRequests: [],
    seen: [],
  };
  server.fetch = async (url, init = {}) => {
    if (url === "/api/insforge-token") {
      server.tokenRequests.push(init);
      if (!server.signedIn) return json(401, { error: "not signed in" });
      server.minted += 1;
      const iat = Math.floor(server.now / 1000);
      const payload = { sub: "u1", role: "authenticated", iat, exp: iat + LIFETIME, n: server.minted };
      return json(200, { token: `${base64url({ alg: "HS256" })}.${base64url(payload)}.sig` });
    }
    const auth = (init.headers || {}).Authorization || null;
    server.seen.push({ url, method: init.method, auth, headers: init.headers, body: init.body });
    const token = (auth || "").replace(/^Bearer /, "");
    if (server.refuseAll || server.revoked.has(token) || token.startsWith("anon_")) {
      return json(401, { code: "PGRST301", message: "JWT cannot be used", details: null, hint: null });
    }
    if (url.includes("/records/nope")) {
      return json(404, { code: "42P01", message: "relation does not exist", details: "d", hint: "h" });
    }
    if (init.method === "DELETE" && init.headers.Prefer === undefined) return json(204);
    return json(init.method === "POST" ? 201 : 200, [{ id: 1, title: "t" }]);
  };
  server.client = (extra = {}) =>
    createDataClient({
      backendUrl: BACKEND + "/",
      anonKey: "anon_" + "0".repeat(64),
      fetch: server.fetch,
      now: () => server.now,
      ...extra,
    });
  return server;
}

const checks = {
  async "the token is fetched once, with the cookie, and reused"() {
    const server = fakeServer();
    const db = server.client();
    await db.from("posts").select();
    await db.from("posts").select();
    assert.equal(server.minted, 1);
    assert.equal(server.tokenRequests[0].credentials, "include");
    assert.equal(server.seen[0].auth, server.seen[1].auth);
  },

  async "concurrent calls share one token request"() {
    const server = fakeServer();
    const db = server.client();
    await Promise.all([1, 2, 3, 4, 5].map(() => db.from("posts").select()));
    assert.equal(server.minted, 1);
  },

  async "the token is refreshed five minutes before exp"() {
    const server = fakeServer();
    const db = server.client();
    await db.from("posts").select();
    server.now += (LIFETIME - 301) * 1000;
    await db.from("posts").select();
    assert.equal(server.minted, 1);
    server.now += 2000;
    await db.from("posts").select();
    assert.equal(server.minted, 2);
  },

  async "a refused token is dropped and the call retried once"() {
    const server = fakeServer();
    const db = server.client();
    await db.from("posts").select();
    server.revoked.add(server.seen[0].auth.replace(/^Bearer /, ""));
    const rows = await db.from("posts").select();
    assert.deepEqual(rows, [{ id: 1, title: "t" }]);
    assert.equal(server.minted, 2);
    assert.equal(server.seen.length, 3);
    assert.notEqual(server.seen[2].auth, server.seen[1].auth);
  },

  async "a second refusal throws and forgets the token"() {
    const server = fakeServer();
    const db = server.client();
    server.refuseAll = true;
    await assert.rejects(db.from("posts").select(), (error) => {
      assert.ok(error instanceof DataApiError && error instanceof Error);
      assert.equal(error.status, 401);
      assert.equal(error.code, "PGRST301");
      return true;
    });
    assert.equal(server.seen.length, 2);
    server.refuseAll = false;
    await db.from("posts").select();
    assert.equal(server.minted, 3);
  },

  async "a signed-out bridge calls onSignedOut and falls back to the anon key"() {
    const server = fakeServer();
    let signedOut = 0;
    const db = server.client({ onSignedOut: () => (signedOut += 1) });
    server.signedIn = false;
    await assert.rejects(db.from("posts").select(), { status: 401 });
    assert.equal(signedOut, 1);
    assert.equal(server.seen.length, 1);
    assert.match(server.seen[0].auth, /^Bearer anon_/);
  },

  async "errors carry PostgREST's code, message, details and hint"() {
    const server = fakeServer();
    await assert.rejects(server.client().from("nope").select(), (error) => {
      assert.deepEqual(
        [error.status, error.code, error.message, error.details, error.hint],
        [404, "42P01", "relation does not exist", "d", "h"]
      );
      return true;
    });
  },

  async "requests use the records path, PostgREST filters and Prefer"() {
    const server = fakeServer();
    const posts = server.client().from("posts");
    await posts.select({ select: "*", order: "id.desc" });
    await posts.insert({ title: "a" });
    await posts.update({ id: "eq.5" }, { title: "b" });
    await posts.delete({ id: "eq.5" });
    const [get, post, patch, del] = server.seen;
    assert.equal(get.url, `${BACKEND}/api/database/records/posts?select=*&order=id.desc`);
    assert.equal(get.method, "GET");
    assert.equal(post.headers.Prefer, "return=representation");
    assert.equal(post.body, JSON.stringify({ title: "a" }));
    assert.equal(post.headers["Content-Type"], "application/json");
    assert.equal(patch.url, `${BACKEND}/api/database/records/posts?id=eq.5`);
    assert.equal(patch.headers.Prefer, "return=representation");
    assert.equal(del.method, "DELETE");
  },

  async "unfiltered update and delete are refused before any request"() {
    const server = fakeServer();
    const posts = server.client().from("posts");
    assert.throws(() => posts.update({}, { title: "all" }), /filter/);
    assert.throws(() => posts.delete(), /filter/);
    assert.equal(server.seen.length, 0);
  },

  async "an unreachable data API names the likely cause, CORS included"() {
    const server = fakeServer();
    const failing = async (url, init) => {
      if (url === "/api/insforge-token") return server.fetch(url, init);
      throw new TypeError("Failed to fetch");
    };
    globalThis.location = { origin: "http://127.0.0.1:3301" };
    try {
      await server.client({ fetch: failing }).from("posts").select();
      assert.fail("the select should have failed");
    } catch (error) {
      assert.ok(error instanceof DataApiError);
      assert.equal(error.status, 0);
      assert.match(error.message, /could not be reached/);
      assert.match(error.message, /http:\/\/127\.0\.0\.1:3301/);
      assert.match(error.message, /BETTER_AUTH_TRUSTED_ORIGINS/);
      assert.equal(error.details, "Failed to fetch");
    } finally {
      delete globalThis.location;
    }
  },

  async "tokenExpiry reads exp, and only exp"() {
    const token = (payload) => `${base64url({})}.${base64url(payload)}.s`;
    assert.equal(tokenExpiry(token({ exp: 1700000000 })), 1700000000000);
    assert.equal(tokenExpiry(token({ sub: "x" })), null);
    assert.equal(tokenExpiry("anon_abc"), null);
    assert.equal(tokenExpiry("a.@@@.c"), null);
  },
};

(async () => {
  for (const [name, check] of Object.entries(checks)) {
    try {
      await check();
      console.log(`ok - ${name}`);
    } catch (error) {
      console.error(`FAIL - ${name}\n${error && error.stack}`);
      process.exit(1);
    }
  }
})();
