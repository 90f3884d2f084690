/*
 * posts.js — the posts page: list, create, edit in place, delete, sign out.
 *
 * Rows come from the backend's data API through rowgate-data.js, as the signed-in
 * user; row level security decides what that is. Everything the user typed is put
 * in the page with textContent, never as markup. Elements are cloned from the
 * <template>s in posts.html, whose comment lists the test ids.
 */
(function () {
  "use strict";

  var config = rowgate.readConfig();
  var db = rowgate.createDataClient({
    backendUrl: config.backendUrl,
    anonKey: config.anonKey,
    tokenUrl: config.tokenUrl,
    onSignedOut: function () {
      window.location.assign("/sign-in");
    },
  });
  var posts = db.from("posts");

  var list = document.getElementById("posts");
  var status = document.getElementById("posts-status");
  var loadError = document.getElementById("posts-error");
  var empty = document.getElementById("posts-empty");
  var count = document.getElementById("posts-count");
  var createForm = document.getElementById("new-post-form");
  var postTemplate = document.getElementById("post-template");
  var editTemplate = document.getElementById("post-edit-template");
  var dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  var MAX_TITLE = 200;

  function messageOf(error) {
    if (error instanceof rowgate.DataApiError) {
      if (error.code === "23514") return "The title must be 1 to 200 characters.";
      return error.hint ? error.message + " " + error.hint : error.message;
    }
    return (error && error.message) || "Something went wrong.";
  }

  function show(element, text) {
    element.textContent = text;
    element.hidden = false;
  }

  function hide(element) {
    element.hidden = true;
    element.textContent = "";
  }

  function titleProblem(title) {
    if (!title) return "Give your post a title.";
    if (title.length > MAX_TITLE) return "Keep the title under " + MAX_TITLE + " characters.";
    return null;
  }

  function refreshCount() {
    var n = list.children.length;
    count.textContent = n === 0 ? "" : n === 1 ? "1 post" : n + " posts";
    empty.hidden = n !== 0;
  }

  /* ---- rendering ---- */

  function fillView(item, row) {
    item.querySelector("[data-testid=post-title]").textContent = row.title;
    var body = item.querySelector("[data-testid=post-body]");
    body.textContent = row.body || "";
    body.hidden = !row.body;
    var date = item.querySelector("[data-testid=post-date]");
    var created = new Date(row.created_at);
    date.dateTime = isNaN(created) ? "" : created.toISOString();
    date.textContent = isNaN(created) ? "" : dateFormat.format(created);
    item.row = row;
  }

  function renderPost(row) {
    var item = postTemplate.content.firstElementChild.cloneNode(true);
    item.dataset.postId = String(row.id);
    item.id = "post-" + row.id;
    var heading = item.querySelector("[data-testid=post-title]");
    heading.id = "post-" + row.id + "-title";
    item.querySelector("article").setAttribute("aria-labelledby", heading.id);
    item.querySelectorAll(".post-actions button").forEach(function (button) {
      button.setAttribute("aria-describedby", heading.id);
    });
    fillView(item, row);
    return item;
  }

  /* ---- loading ---- */

  async function load() {
    hide(loadError.querySelector(".banner-text"));
    loadError.hidden = true;
    status.hidden = false;
    status.textContent = "Loading your posts…";
    try {
      var rows = await posts.select({ select: "*", order: "id.desc" });
      list.replaceChildren.apply(list, rows.map(renderPost));
      status.hidden = true;
      refreshCount();
    } catch (error) {
      status.hidden = true;
      show(loadError.querySelector(".banner-text"), "Could not load your posts: " + messageOf(error));
      loadError.hidden = false;
    }
  }

  /* ---- creating ---- */

  createForm.addEventListener("submit", async function (event) {
    event.preventDefault();
    var titleInput = createForm.elements.namedItem("title");
    var bodyInput = createForm.elements.namedItem("body");
    var titleError = document.getElementById("new-post-title-error");
    var formError = document.getElementById("new-post-error");
    var submit = document.getElementById("new-post-submit");
    hide(titleError);
    hide(formError);
    titleInput.removeAttribute("aria-invalid");

    var title = titleInput.value.trim();
    var problem = titleProblem(title);
    if (problem) {
      show(titleError, problem);
      titleInput.setAttribute("aria-invalid", "true");
      titleInput.focus();
      return;
    }

    submit.disabled = true;
    submit.textContent = "Publishing…";
    try {
      var rows = await posts.insert({ title: title, body: bodyInput.value });
      if (rows[0]) list.prepend(renderPost(rows[0]));
      refreshCount();
      createForm.reset();
      titleInput.focus();
    } catch (error) {
      show(formError, "Could not publish: " + messageOf(error));
    }
    submit.disabled = false;
    submit.textContent = "Publish";
  });

  /* ---- editing and deleting ---- */

  function openEditor(item) {
    if (item.querySelector("form")) return;
    var editor = editTemplate.content.firstElementChild.cloneNode(true);
    var prefix = "post-" + item.dataset.postId + "-edit-";
    editor.querySelectorAll("[data-for]").forEach(function (label) {
      var field = editor.elements.namedItem(label.dataset.for);
      field.id = prefix + label.dataset.for;
      label.htmlFor = field.id;
    });
    var titleError = editor.querySelector("[data-testid=post-edit-title-error]");
    titleError.id = prefix + "title-error";
    editor.elements.namedItem("title").setAttribute("aria-describedby", titleError.id);
    editor.elements.namedItem("title").value = item.row.title;
    editor.elements.namedItem("body").value = item.row.body || "";

    item.querySelector(".post-view").hidden = true;
    item.querySelector("article").prepend(editor);
    item.classList.add("is-editing");
    editor.elements.namedItem("title").focus();
  }

  function closeEditor(item) {
    var editor = item.querySelector("form");
    if (editor) editor.remove();
    item.querySelector(".post-view").hidden = false;
    item.classList.remove("is-editing");
    item.querySelector("[data-action=edit]").focus();
  }

  async function save(item, editor) {
    var titleInput = editor.elements.namedItem("title");
    var titleError = editor.querySelector("[data-testid=post-edit-title-error]");
    var itemError = item.querySelector("[data-testid=post-error]");
    hide(titleError);
    hide(itemError);
    titleInput.removeAttribute("aria-invalid");

    var title = titleInput.value.trim();
    var problem = titleProblem(title);
    if (problem) {
      show(titleError, problem);
      titleInput.setAttribute("aria-invalid", "true");
      return titleInput.focus();
    }

    var button = editor.querySelector("[data-testid=post-save]");
    button.disabled = true;
    button.textContent = "Saving…";
    try {
      var rows = await posts.update(
        { id: "eq." + item.dataset.postId },
        { title: title, body: editor.elements.namedItem("body").value }
      );
      if (!rows[0]) throw new Error("This post no longer exists.");
      fillView(item, rows[0]);
      closeEditor(item);
    } catch (error) {
      show(itemError, "Could not save: " + messageOf(error));
      button.disabled = false;
      button.textContent = "Save";
    }
  }

  async function remove(item, button) {
    var itemError = item.querySelector("[data-testid=post-error]");
    if (!window.confirm("Delete “" + item.row.title + "”? This cannot be undone.")) return;
    hide(itemError);
    button.disabled = true;
    button.textContent = "Deleting…";
    try {
      await posts.delete({ id: "eq." + item.dataset.postId });
      var next = item.nextElementSibling || item.previousElementSibling;
      item.remove();
      refreshCount();
      (next ? next.querySelector("[data-action=edit]") : document.getElementById("new-post-title")).focus();
    } catch (error) {
      show(itemError, "Could not delete: " + messageOf(error));
      button.disabled = false;
      button.textContent = "Delete";
    }
  }

  list.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-action]");
    if (!button) return;
    var item = button.closest("[data-post-id]");
    if (button.dataset.action === "edit") openEditor(item);
    if (button.dataset.action === "cancel") closeEditor(item);
    if (button.dataset.action === "delete") remove(item, button);
  });

  list.addEventListener("submit", function (event) {
    event.preventDefault();
    save(event.target.closest("[data-post-id]"), event.target);
  });

  list.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && event.target.closest("form.post-edit")) {
      closeEditor(event.target.closest("[data-post-id]"));
    }
  });

  /* ---- signing out ---- */

  document.getElementById("sign-out").addEventListener("click", async function (event) {
    var button = event.currentTarget;
    button.disabled = true;
    button.textContent = "Signing out…";
    db.clearToken();
    try {
      await fetch("/api/auth/sign-out", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: "{}",
      });
    } finally {
      window.location.assign("/sign-in");
    }
  });

  document.getElementById("posts-retry").addEventListener("click", load);

  load();
})();
