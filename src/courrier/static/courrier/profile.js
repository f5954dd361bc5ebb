/* Courrier — sending settings: show only the chosen method's fields.
   Without this script every group stays visible (see _profile_head.html) and the server keeps
   only the chosen method's values, so the page works either way. */
(function () {
  "use strict";

  function methodsOf(el) {
    return (el.getAttribute("data-methods") || "").split(/\s+/);
  }

  function setShown(el, shown) {
    el.hidden = !shown;
    // Hidden inputs are not sent: the server ignores them anyway, the browser need not check them.
    el.querySelectorAll("input, select, textarea").forEach(function (input) {
      if (input.type === "hidden") return;
      input.disabled = !shown;
    });
  }

  // A .field is laid out with `display: flex`, which beats the `hidden` attribute.
  function showField(field, shown) {
    field.style.display = shown ? "" : "none";
  }

  function refresh(form) {
    var select = form.querySelector("select[name$='method']");
    if (!select) return;
    var method = select.value;
    document.querySelectorAll("[data-methods]").forEach(function (group) {
      setShown(group, methodsOf(group).indexOf(method) !== -1);
    });
    var auth = form.querySelector("select[name$='smtp_auth']");
    if (auth) {
      form.querySelectorAll("[data-smtp-auth]").forEach(function (part) {
        part.hidden = part.getAttribute("data-smtp-auth") !== auth.value;
      });
      // The password belongs to password authentication only.
      ["password", "clear_password"].forEach(function (name) {
        var input = form.querySelector("[name$='-" + name + "']");
        var field = input && input.closest(".field");
        if (field) showField(field, auth.value === "password");
      });
    }
    var imap = form.querySelector("input[name$='imap_enabled']");
    if (imap) {
      form.querySelectorAll("[data-group='imap'] .field").forEach(function (field) {
        if (!field.contains(imap)) showField(field, imap.checked);
      });
    }
  }

  function init() {
    document.querySelectorAll("form[data-profile-form]").forEach(function (form) {
      if (form.dataset.profileReady) return;
      form.dataset.profileReady = "1";
      form.addEventListener("change", function (event) {
        var name = event.target && event.target.name;
        if (name && /(method|smtp_auth|imap_enabled)$/.test(name)) refresh(form);
      });
      refresh(form);
    });
    document.querySelectorAll("[data-select-on-focus]").forEach(function (input) {
      input.addEventListener("focus", function () { input.select(); });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
