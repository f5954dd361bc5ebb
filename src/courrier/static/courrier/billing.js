// Registers: "tick all" and, in the e-mail register, ticking a row chooses "the ticked invoices".
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (!(target instanceof HTMLInputElement) || target.type !== "checkbox") return;
    var name = target.getAttribute("data-select-all");
    var formId = target.getAttribute("form");
    if (name) {
      document.querySelectorAll('input[type="checkbox"][name="' + name + '"][form="' + formId + '"]')
        .forEach(function (box) { box.checked = target.checked; });
    }
    if (target.name === "invoices" || name) {
      var selection = document.querySelector('#' + formId + ' input[name="scope"][value="selection"]');
      if (selection && target.checked) selection.checked = true;
    }
  });

  // A pre-send check speaks of the choice it was made for: another choice needs another check.
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (!(target instanceof HTMLInputElement)) return;
    var form = target.form;
    if (!form || form.id !== "batch-form") return;
    var panel = document.getElementById("presend");
    if (panel) panel.innerHTML = "";
  });
})();
