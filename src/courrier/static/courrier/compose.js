/* Courrier — compose window and template editor: insert a merge field at the cursor,
   language tabs. Small on purpose; without it the pages still work (fields are typed). */
(function () {
  "use strict";

  var lastTarget = null;

  // Remember the subject or body the user was last in: the picker's button takes the focus.
  document.addEventListener("focusin", function (event) {
    var el = event.target;
    if (el && el.matches && el.matches("[data-merge-target]")) lastTarget = el;
  });

  function visible(el) {
    return el && el.isConnected && !el.closest("[hidden]");
  }

  function defaultTarget(picker) {
    var scope = picker.closest("form") || document;
    var candidates = scope.querySelectorAll("textarea[data-merge-target]");
    for (var i = 0; i < candidates.length; i++) {
      if (visible(candidates[i])) return candidates[i];
    }
    return null;
  }

  function insertAtCursor(field, text) {
    var start = field.selectionStart;
    var end = field.selectionEnd;
    if (typeof start !== "number") {
      field.value += text;
    } else {
      field.value = field.value.slice(0, start) + text + field.value.slice(end);
      field.selectionStart = field.selectionEnd = start + text.length;
    }
    field.dispatchEvent(new Event("input", { bubbles: true }));
    field.focus();
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-merge-insert]");
    if (!button) return;
    event.preventDefault();
    var picker = button.closest("[data-merge-picker]");
    var select = picker && picker.querySelector("[data-merge-select]");
    if (!select || !select.value) return;
    var target = visible(lastTarget) ? lastTarget : defaultTarget(picker);
    if (!target) return;
    insertAtCursor(target, "{" + select.value + "}");
  });

  // Language tabs of the template editor: every panel is visible without this script.
  function showTab(container, code) {
    container.querySelectorAll("[data-tab]").forEach(function (tab) {
      tab.setAttribute("aria-selected", tab.getAttribute("data-tab") === code ? "true" : "false");
    });
    container.querySelectorAll("[data-tab-panel]").forEach(function (panel) {
      panel.hidden = panel.getAttribute("data-tab-panel") !== code;
    });
  }

  function initTabs() {
    document.querySelectorAll("[data-tabs]").forEach(function (container) {
      if (container.dataset.tabsReady) return;
      container.dataset.tabsReady = "1";
      var tabs = container.querySelectorAll("[data-tab]");
      if (!tabs.length) return;
      // Open the first tab with an error, else the first one.
      var first = container.querySelector("[data-tab] .badge-failed");
      var code = first ? first.closest("[data-tab]").getAttribute("data-tab") : tabs[0].getAttribute("data-tab");
      showTab(container, code);
      tabs.forEach(function (tab) {
        tab.addEventListener("click", function () {
          showTab(container, tab.getAttribute("data-tab"));
        });
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", initTabs);
  } else {
    initTabs();
  }
})();
