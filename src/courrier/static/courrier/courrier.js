/* Courrier — small progressive enhancements; every page works without them. */
(function () {
  "use strict";

  // Inline formsets: a button [data-formset-add="<prefix>"] appends a copy of
  // <template id="<prefix>-empty"> (Django's empty_form) and bumps TOTAL_FORMS.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-formset-add]");
    if (!button) return;
    event.preventDefault();
    var prefix = button.getAttribute("data-formset-add");
    var total = document.getElementById("id_" + prefix + "-TOTAL_FORMS");
    var template = document.getElementById(prefix + "-empty");
    var body = document.getElementById(prefix + "-rows");
    if (!total || !template || !body) return;
    var max = document.getElementById("id_" + prefix + "-MAX_NUM_FORMS");
    var index = parseInt(total.value, 10);
    if (max && index >= parseInt(max.value, 10)) return;
    var html = template.innerHTML.replace(/__prefix__/g, String(index));
    body.insertAdjacentHTML("beforeend", html);
    total.value = String(index + 1);
    var first = body.lastElementChild && body.lastElementChild.querySelector("input, select");
    if (first) first.focus();
  });

  // A partial request whose session has ended is redirected to the login page: open that
  // page whole (coming back here afterwards) instead of pasting it inside the current one.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var login = document.body.getAttribute("data-login-url");
    var xhr = event.detail.xhr;
    if (!login || !xhr || !xhr.responseURL) return;
    if (new URL(xhr.responseURL, window.location.href).pathname !== login) return;
    event.detail.shouldSwap = false;
    var here = window.location.pathname + window.location.search;
    window.location.assign(login + "?next=" + encodeURIComponent(here));
  });

  // HTMX ignores error answers: say so on the page rather than leave a click without effect.
  function showError(text) {
    var main = document.getElementById("main");
    if (!main || !text) return;
    var flashes = main.querySelector(".flashes");
    if (!flashes) {
      flashes = document.createElement("div");
      flashes.className = "flashes";
      flashes.setAttribute("role", "status");
      main.insertBefore(flashes, main.firstChild);
    }
    var flash = document.createElement("div");
    flash.className = "flash flash-error";
    flash.setAttribute("data-htmx-error", "");
    flash.textContent = text;
    flashes.querySelectorAll("[data-htmx-error]").forEach(function (old) { old.remove(); });
    flashes.appendChild(flash);
    flash.scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    var key = status === 403 ? "data-error-forbidden" : status === 404 ? "data-error-missing" : "data-error-server";
    showError(document.body.getAttribute(key));
  });

  document.addEventListener("htmx:sendError", function () {
    showError(document.body.getAttribute("data-error-offline"));
  });

  // Forms with data-confirm ask before submitting (cancel a message, ...).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  // A select[data-navigate] opens the address its chosen option holds.
  document.addEventListener("change", function (event) {
    var select = event.target.closest && event.target.closest("select[data-navigate]");
    if (select && select.value) window.location.href = select.value;
  });

  // A checkbox [data-mirror="<id>"] gives the checkbox <id> its own state.
  document.addEventListener("change", function (event) {
    var source = event.target.closest && event.target.closest("input[data-mirror]");
    if (!source) return;
    var target = document.getElementById(source.getAttribute("data-mirror"));
    if (target) target.checked = source.checked;
  });

  // In a field [data-enter-stays], Enter does not submit the surrounding form.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Enter") return;
    if (event.target.closest && event.target.closest("[data-enter-stays]")) event.preventDefault();
  });
})();
