/*
 * rowgate-data.js — the browser's way to the data API as the signed-in user.
 *
 * The bridge (/api/insforge-token on this origin) turns the session cookie into a
 * short-lived token; this helper fetches it with the cookie, keeps it in memory
 * only, asks again five minutes before its `exp` (one request however many calls
 * wait), drops it when the bridge or the data API answers 401 and retries a data
 * call once with a fresh one. Calls go to `${backendUrl}/api/database/records/<t>`
 * with PostgREST query parameters; failures throw a DataApiError carrying
 * PostgREST's {code, message, details, hint}.
 *
 *   const db = rowgate.createDataClient(rowgate.readConfig());
 *   await db.from("posts").select({ order: "id.desc" });
 *   await db.from("posts").insert({ title: "Hi" });
 *   await db.from("posts").update({ id: "eq.5" }, { title: "Hello" });
 *   await db.from("posts").delete({ id: "eq.5" });
 */
(function () {
  "use strict";

  var REFRESH_MARGIN_MS = 5 * 60 * 1000;
  var UNKNOWN_EXPIRY_MS = 60 * 1000;

  function DataApiError(status, body) {
    body = body && typeof body === "object" ? body : {};
    this.name = "DataApiError";
    this.status = status;
    this.code = body.code == null ? null : String(body.code);
    this.message =
      body.message == null
        ? status
          ? "The data API answered " + status + "."
          : "The data API could not be reached."
        : String(body.message);
    this.details = body.details == null ? null : body.details;
    this.hint = body.hint == null ? null : body.hint;
    this.body = body;
  }
  DataApiError.prototype = Object.create(Error.prototype);
  DataApiError.prototype.constructor = DataApiError;

  /* The `exp` of a JWT in milliseconds, read without checking the signature
     (the data API checks it); null when there is none. */
  function tokenExpiry(token) {
    var parts = String(token).split(".");
    if (parts.length !== 3) return null;
    try {
      var segment = parts[1].replace(/-/g, "+").replace(/_/g, "/");
      var payload = JSON.parse(atob(segment + "===".slice((segment.length + 3) % 4)));
      return typeof payload.exp === "number" ? payload.exp * 1000 : null;
    } catch (_) {
      return null;
    }
  }

  function readConfig(id) {
    var element = document.getElementById(id || "rowgate-config");
    return element ? JSON.parse(element.textContent) : {};
  }

  function queryString(params) {
    var search = new URLSearchParams();
    Object.keys(params || {}).forEach(function (key) {
      if (params[key] != null) search.append(key, String(params[key]));
    });
    var text = search.toString();
    return text ? "?" + text : "";
  }

  function requireFilters(filters) {
    // An unfiltered PATCH or DELETE would touch every row the user can see.
    if (!filters || Object.keys(filters).length === 0) {
      throw new Error("update and delete need at least one filter");
    }
    return filters;
  }

  async function parseBody(response) {
    var text = await response.text();
    if (!text.trim()) return null;
    try {
      return JSON.parse(text);
    } catch (_) {
      return null;
    }
  }

  function createDataClient(options) {
    var backendUrl = String(options.backendUrl || "").replace(/\/+$/, "");
    var tokenUrl = options.tokenUrl || "/api/insforge-token";
    var anonKey = options.anonKey || null;
    var onSignedOut = options.onSignedOut || function () {};
    var now = options.now || Date.now;
    var fetchFn = options.fetch || window.fetch.bind(window);

    var token = null;
    var refreshAt = 0;
    var pending = null;
    var timer = null;

    function clearToken() {
      token = null;
      refreshAt = 0;
      if (timer) clearTimeout(timer);
      timer = null;
    }

    function remember(fresh) {
      var current = now();
      var exp = tokenExpiry(fresh);
      var margin = exp == null ? 0 : Math.min(REFRESH_MARGIN_MS, Math.max(exp - current, 0) / 2);
      token = fresh;
      refreshAt = exp == null ? current + UNKNOWN_EXPIRY_MS : exp - margin;
      if (timer) clearTimeout(timer);
      // Refresh in the background too, so a page left open keeps a live token.
      timer = setTimeout(function () {
        getToken(true).catch(function () {});
      }, Math.max(refreshAt - current, 1000));
    }

    async function fetchToken() {
      var response = await fetchFn(tokenUrl, {
        credentials: "include",
        headers: { Accept: "application/json" },
        cache: "no-store",
      });
      if (response.status === 401) {
        clearToken();
        onSignedOut();
        return null;
      }
      var body = await parseBody(response);
      if (!response.ok || !body || typeof body.token !== "string" || !body.token) {
        throw new DataApiError(response.status, {
          message: "Could not get a data token (bridge answered " + response.status + ").",
        });
      }
      remember(body.token);
      return body.token;
    }

    /* The cached token, or a fresh one when missing, due, or `force`d. */
    function getToken(force) {
      if (!force && token && now() < refreshAt) return Promise.resolve(token);
      if (!pending) {
        pending = fetchToken().finally(function () {
          pending = null;
        });
      }
      return pending;
    }

    async function send(method, table, params, body, prefer, bearer) {
      var headers = { Accept: "application/json" };
      if (bearer || anonKey) headers.Authorization = "Bearer " + (bearer || anonKey);
      if (prefer) headers.Prefer = prefer;
      if (body !== undefined) headers["Content-Type"] = "application/json";
      var url =
        backendUrl + "/api/database/records/" + encodeURIComponent(table) + queryString(params);
      try {
        return await fetchFn(url, {
          method: method,
          headers: headers,
          body: body === undefined ? undefined : JSON.stringify(body),
          credentials: "omit",
          cache: "no-store",
        });
      } catch (error) {
        // A browser reports a CORS refusal exactly like a network failure, and
        // a new app address the backend does not trust yet is the usual cause.
        var origin = typeof location === "undefined" ? "this page" : location.origin;
        throw new DataApiError(0, {
          message:
            "The data API could not be reached. Check your connection, and that the " +
            "backend trusts " + origin + " (BETTER_AUTH_TRUSTED_ORIGINS).",
          details: String(error && error.message ? error.message : error),
          hint: "The browser console tells a CORS refusal from a network error.",
        });
      }
    }

    async function request(method, table, params, body, prefer) {
      var used = await getToken(false);
      var response = await send(method, table, params, body, prefer, used);
      if (response.status === 401 && used) {
        if (token === used) clearToken();
        var fresh = await getToken(true);
        response = await send(method, table, params, body, prefer, fresh);
        if (response.status === 401 && token === fresh) clearToken();
      }
      var parsed = await parseBody(response);
      if (!response.ok) throw new DataApiError(response.status, parsed);
      return parsed;
    }

    function from(table) {
      return {
        select: function (params) {
          return request("GET", table, params).then(function (rows) {
            return rows || [];
          });
        },
        insert: function (row, opts) {
          var returning = !opts || opts.returning !== false;
          var prefer = returning ? "return=representation" : "return=minimal";
          return request("POST", table, null, row, prefer).then(function (rows) {
            return returning ? rows || [] : null;
          });
        },
        update: function (filters, row) {
          return request("PATCH", table, requireFilters(filters), row, "return=representation").then(
            function (rows) {
              return rows || [];
            }
          );
        },
        delete: function (filters) {
          return request("DELETE", table, requireFilters(filters), undefined, "return=representation").then(
            function (rows) {
              return rows || [];
            }
          );
        },
      };
    }

    return { from: from, getToken: getToken, clearToken: clearToken };
  }

  window.rowgate = {
    createDataClient: createDataClient,
    readConfig: readConfig,
    tokenExpiry: tokenExpiry,
    DataApiError: DataApiError,
  };
})();
