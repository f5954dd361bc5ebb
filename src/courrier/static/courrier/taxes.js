// Tax lists: "tout cocher" and the count of checked rows next to "Envoyer un email".
(function () {
  "use strict";
  function wire() {
    var form = document.getElementById("taxes-rows");
    var all = document.getElementById("taxes-select-all");
    var count = document.getElementById("taxes-selected-count");
    if (!form || !all) { return; }
    function boxes() { return form.querySelectorAll('input[name="objects"]'); }
    function refresh() {
      var checked = form.querySelectorAll('input[name="objects"]:checked').length;
      var total = boxes().length;
      all.checked = checked > 0 && checked === total;
      all.indeterminate = checked > 0 && checked < total;
      if (count) { count.textContent = checked ? checked + " / " + total : ""; }
    }
    all.addEventListener("change", function () {
      boxes().forEach(function (box) { box.checked = all.checked; });
      refresh();
    });
    form.addEventListener("change", function (event) {
      if (event.target !== all) { refresh(); }
    });
    refresh();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", wire);
  } else {
    wire();
  }
})();
