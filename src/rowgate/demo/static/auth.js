/*
 * auth.js — the sign-in, sign-up and password-reset forms.
 *
 * Posts the form as JSON to its data-endpoint on this origin (the auth core sets
 * the session cookie). On success sign-in and sign-up go to /, a reset request
 * shows its confirmation, and a new password goes to /sign-in?reset=1; otherwise
 * the auth core's `message` shows under the field it is about, or above the button
 * when it concerns no single field. Fields are checked here first so the common
 * mistakes never leave the page. data-kind says which form this is.
 */
(function () {
  "use strict";

  var form = document.querySelector("form[data-endpoint]");
  if (!form) return;
  var submit = form.querySelector("button[type=submit]");
  var idleLabel = submit.textContent;
  var formError = document.getElementById("form-error");
  var notice = document.getElementById("form-notice");
  var kind = form.dataset.kind || "session";

  // Which field an auth error code is about; codes not listed go above the button.
  var FIELD_OF_CODE = {
    PASSWORD_TOO_SHORT: "password",
    PASSWORD_TOO_LONG: "password",
    INVALID_PASSWORD: "password",
    USER_ALREADY_EXISTS: "email",
    USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL: "email",
    INVALID_EMAIL: "email",
    EMAIL_NOT_VERIFIED: "email",
  };
  // The reset form's input is "password"; the auth core calls it newPassword.
  var FIELD_OF_BODY = { newPassword: "password" };

  function input(name) {
    return form.elements.namedItem(name);
  }

  function showError(name, message) {
    var target = name && input(name) ? document.getElementById(name + "-error") : formError;
    target.textContent = message;
    target.hidden = false;
    if (target !== formError) input(name).setAttribute("aria-invalid", "true");
  }

  function clearErrors() {
    form.querySelectorAll(".field-error, .form-error").forEach(function (element) {
      element.hidden = true;
      element.textContent = "";
    });
    form.querySelectorAll("[aria-invalid]").forEach(function (element) {
      element.removeAttribute("aria-invalid");
    });
  }

  /* Client-side checks mirroring the server's; returns [field, message] pairs. */
  function problems(values) {
    var found = [];
    if ("name" in values && !values.name.trim()) found.push(["name", "Enter your name."]);
    if ("email" in values) {
      if (!values.email.trim()) found.push(["email", "Enter your email address."]);
      else if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(values.email.trim()))
        found.push(["email", "Enter a valid email address, like name@example.com."]);
    }
    if ("password" in values) {
      var creating = form.id === "sign-up-form" || kind === "reset";
      if (!values.password) found.push(["password", "Enter your password."]);
      else if (creating && values.password.length < 8)
        found.push(["password", "Use at least 8 characters."]);
    }
    return found;
  }

  /* Better Auth's zod errors read "[body.email] Invalid email address". */
  function placeError(body, status) {
    var message = (body && body.message) || form.dataset.failure + " (" + status + ").";
    var code = body && body.code;
    var prefixed = /^\[body\.(\w+)\]\s*(.*)$/.exec(message);
    var named = prefixed && (FIELD_OF_BODY[prefixed[1]] || prefixed[1]);
    if (named && input(named)) return showError(named, prefixed[2] || message);
    if (status === 429) return showError(null, "Too many attempts. Wait a few seconds and try again.");
    showError(FIELD_OF_CODE[code] || null, message);
  }

  /* What the auth core expects for this form's values. */
  function payload(values) {
    if (kind === "forgot") return { email: values.email, redirectTo: "/reset-password" };
    if (kind === "reset") return { newPassword: values.password, token: form.dataset.token };
    return values;
  }

  function busy(on) {
    submit.disabled = on;
    submit.setAttribute("aria-busy", on ? "true" : "false");
    submit.textContent = on ? form.dataset.busy : idleLabel;
  }

  function focusFirstError() {
    var invalid = form.querySelector("[aria-invalid=true]");
    (invalid || submit).focus();
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    clearErrors();
    var values = {};
    ["name", "email", "password"].forEach(function (name) {
      if (input(name)) values[name] = input(name).value;
    });
    var found = problems(values);
    if (found.length) {
      found.forEach(function (pair) {
        showError(pair[0], pair[1]);
      });
      return focusFirstError();
    }
    if ("email" in values) values.email = values.email.trim();
    if ("name" in values) values.name = values.name.trim();

    busy(true);
    try {
      var response = await fetch(form.dataset.endpoint, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(payload(values)),
      });
      var body = null;
      try {
        body = await response.json();
      } catch (_) {
        body = null;
      }
      if (response.ok && kind === "forgot") {
        notice.textContent =
          "If an account uses this address, a link to reset its password is on its way.";
        notice.hidden = false;
        busy(false);
        return;
      }
      if (response.ok && kind === "reset") {
        window.location.assign("/sign-in?reset=1");
        return;
      }
      if (response.ok && body && body.user) {
        window.location.assign("/");
        return;
      }
      placeError(body, response.status);
    } catch (_) {
      showError(null, "Could not reach the server. Check your connection and try again.");
    }
    busy(false);
    focusFirstError();
  });
})();
