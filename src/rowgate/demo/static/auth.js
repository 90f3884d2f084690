/*
 * auth.js — the sign-in and sign-up forms.
 *
 * Posts the form as JSON to its data-endpoint on this origin (the auth core sets
 * the session cookie), goes to / on success, and otherwise shows the auth core's
 * `message` under the field it is about, or above the button when it concerns no
 * single field. Fields are checked here first so the common mistakes never leave
 * the page.
 */
(function () {
  "use strict";

  var form = document.querySelector("form[data-endpoint]");
  if (!form) return;
  var submit = form.querySelector("button[type=submit]");
  var idleLabel = submit.textContent;
  var formError = document.getElementById("form-error");

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
    if (!values.email.trim()) found.push(["email", "Enter your email address."]);
    else if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(values.email.trim()))
      found.push(["email", "Enter a valid email address, like name@example.com."]);
    if (!values.password) found.push(["password", "Enter your password."]);
    else if (form.id === "sign-up-form" && values.password.length < 8)
      found.push(["password", "Use at least 8 characters."]);
    return found;
  }

  /* Better Auth's zod errors read "[body.email] Invalid email address". */
  function placeError(body, status) {
    var message = (body && body.message) || form.dataset.failure + " (" + status + ").";
    var code = body && body.code;
    var prefixed = /^\[body\.(\w+)\]\s*(.*)$/.exec(message);
    if (prefixed && input(prefixed[1])) return showError(prefixed[1], prefixed[2] || message);
    if (status === 429) return showError(null, "Too many attempts. Wait a few seconds and try again.");
    showError(FIELD_OF_CODE[code] || null, message);
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
    values.email = values.email.trim();
    if ("name" in values) values.name = values.name.trim();

    busy(true);
    try {
      var response = await fetch(form.dataset.endpoint, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(values),
      });
      var body = null;
      try {
        body = await response.json();
      } catch (_) {
        body = null;
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
