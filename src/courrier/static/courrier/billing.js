// Registers: "tick all" and, in the e-mail register, ticking a row chooses "the ticked invoices".
// The draft form: the exemption reason shows while a line is exempt (without this script it
// always shows, and the server asks for it when a line is exempt).
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

  // The draft form: "Motif d'exonération" is hidden while no line is exempt and it is empty.
  function exemptReason() {
    var wrapper = document.querySelector("[data-vat-exempt]");
    if (!wrapper) return;
    var exempt = Array.prototype.some.call(
      document.querySelectorAll('#invoice-lines select[name$="-vat"]'),
      function (select) { return select.value === "E"; }
    );
    var input = wrapper.querySelector("input, textarea");
    var filled = input && input.value.trim() !== "";
    var invalid = wrapper.querySelector(".field-invalid");
    wrapper.hidden = !(exempt || filled || invalid);
  }
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target instanceof HTMLSelectElement && /-vat$/.test(target.name)) exemptReason();
  });
  document.addEventListener("htmx:afterSwap", exemptReason);
  document.addEventListener("DOMContentLoaded", exemptReason);
})();
