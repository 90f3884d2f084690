// Drives one auth server with Better Auth's own JS client (createAuthClient)
// through a fixed scenario and prints, as JSON, what every call returned.
//
// Usage: node better_auth_client.mjs <baseURL>
//
// The same script runs against rowgate and against a real Better Auth
// server; the pytest driver compares the two outputs. Values that differ by
// nature between two servers (ids, tokens, timestamps, the test's email) are
// replaced by placeholders that keep their type, so what is compared is the
// shape, the status codes, the error codes and every stable value.
import { createAuthClient } from "better-auth/client";

const baseURL = process.argv[2];
const email = `interop-${Date.now()}-${Math.random().toString(36).slice(2)}@example.com`;
const password = "correct horse battery staple";
const newPassword = "a brand new passphrase";

// A cookie jar per browser: Node's fetch keeps no cookies, so this stands in
// for the browser (and sends the Origin a browser would).
function browser() {
  const jar = new Map();
  const customFetchImpl = async (input, init = {}) => {
    const headers = new Headers(init.headers);
    headers.set("origin", baseURL);
    if (jar.size) {
      headers.set("cookie", [...jar].map(([k, v]) => `${k}=${v}`).join("; "));
    }
    const response = await fetch(input, { ...init, headers });
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(";");
      const cut = pair.indexOf("=");
      const name = pair.slice(0, cut).trim();
      const value = pair.slice(cut + 1).trim();
      const expired = attributes.some((a) => a.trim().toLowerCase() === "max-age=0");
      if (expired || value === "") jar.delete(name);
      else jar.set(name, value);
    }
    return response;
  };
  const client = createAuthClient({ baseURL, fetchOptions: { customFetchImpl } });
  return { client, jar };
}

const PLACEHOLDER_KEYS = new Set(["id", "token", "userId", "accountId"]);

function normalize(value, key) {
  if (value instanceof Date) return "<date>";
  if (Array.isArray(value)) return value.map((v) => normalize(v));
  if (value && typeof value === "object") {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = normalize(v, k);
    return out;
  }
  if (typeof value === "string") {
    if (PLACEHOLDER_KEYS.has(key)) return `<${key}>`;
    if (value === email) return "<email>";
    if (key === "ipAddress") return "<ip>";
    if (/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(value)) return "<date>";
  }
  return value;
}

const steps = [];
async function step(name, call) {
  let result;
  try {
    result = await call();
  } catch (error) {
    steps.push({ step: name, thrown: String(error) });
    return null;
  }
  const { data, error } = result;
  steps.push({
    step: name,
    data: normalize(data),
    error: error ? { status: error.status, code: error.code ?? null, message: error.message } : null,
  });
  return data;
}

const first = browser();
const second = browser();

await step("sign-up", () =>
  first.client.signUp.email({ name: "Interop User", email, password }),
);
await step("sign-up-duplicate", () =>
  second.client.signUp.email({ name: "Someone Else", email, password }),
);
await step("sign-in-wrong-password", () =>
  second.client.signIn.email({ email, password: "not the password at all" }),
);
await step("sign-in", () => first.client.signIn.email({ email, password }));
await step("get-session", () => first.client.getSession());
await step("update-user", () => first.client.updateUser({ name: "Renamed User" }));
await step("get-session-after-update", () => first.client.getSession());
await step("change-password-wrong-current", () =>
  first.client.changePassword({ currentPassword: "wrong password here", newPassword }),
);
await step("change-password", () =>
  first.client.changePassword({ currentPassword: password, newPassword }),
);
await step("sign-in-old-password", () =>
  second.client.signIn.email({ email, password }),
);
await step("sign-in-second-browser", () =>
  second.client.signIn.email({ email, password: newPassword }),
);
const current = await step("get-session-before-revoke", () => first.client.getSession());
await step("list-sessions", () => first.client.listSessions());
await step("revoke-other-sessions", () => first.client.revokeOtherSessions());
const kept = await step("list-sessions-after-revoke", () => first.client.listSessions());
// Placeholders hide tokens, so say outright which session survived.
await step("revoke-kept-the-current-session", async () => ({
  data: kept?.length === 1 && kept[0].token === current?.session?.token,
  error: null,
}));
await step("second-browser-get-session", () => second.client.getSession());
await step("sign-out", () => first.client.signOut());
await step("get-session-after-sign-out", () => first.client.getSession());
await step("cookies-left", async () => ({ data: [...first.jar.keys()].sort(), error: null }));

process.stdout.write(JSON.stringify(steps, null, 1) + "\n");
