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

  // Forms with data-confirm ask before submitting (cancel a message, ...).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });
})();
