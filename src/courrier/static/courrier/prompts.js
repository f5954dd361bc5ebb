/* Courrier — values a phrase or a template asks for: "{?label}", or "{?date:label}" for a date.
   When such a text is inserted or loaded, a dialog asks for each value and writes it in place
   (a date in the mail's language). Without this script, or when a value is left empty, the
   question stays in the text and the pre-send check blocks the mail until it is replaced. */
(function () {
  "use strict";

  // The same pattern as courrier/mailing/prompts.py.
  var PROMPT = /\{\?[ \t]*(?:([A-Za-z]+)[ \t]*:)?[ \t]*([^{}\n]*?)[ \t]*\}/g;
  var DATE_KINDS = { date: true, datum: true };

  // A label read from a body's HTML, as the person wrote it ("&amp;" is "&").
  function decoded(label) {
    var area = document.createElement("textarea");
    area.innerHTML = label;
    return area.value;
  }

  function promptsIn(text) {
    var found = [];
    var seen = {};
    var match;
    PROMPT.lastIndex = 0;
    while ((match = PROMPT.exec(text || "")) !== null) {
      var kind = (match[1] || "").toLowerCase();
      var label = match[2];
      if (kind && !DATE_KINDS[kind]) {
        // "{?Montant: à convenir}": a colon in the label, not a kind.
        label = match[0].slice(2, -1).trim();
      }
      label = decoded(label);
      if (!label || seen[match[0]]) continue;
      seen[match[0]] = true;
      found.push({ written: match[0], label: label, isDate: !!DATE_KINDS[kind] });
    }
    return found;
  }

  function datePatterns() {
    var node = document.getElementById("date-patterns");
    try {
      return node ? JSON.parse(node.textContent) : {};
    } catch (error) {
      return {};
    }
  }

  // "2026-07-31" from a date input, written as the mail's language writes dates.
  function formatDate(value, language) {
    var parts = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value || "");
    if (!parts) return value;
    var pattern = datePatterns()[language] || "DD/MM/YYYY";
    return pattern.replace("YYYY", parts[1]).replace("MM", parts[2]).replace("DD", parts[3]);
  }

  function escapeHtml(value) {
    return value.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
  }

  // `text` with each question answered; `isHtml`: the answers are escaped (a body's HTML).
  function apply(text, answers, isHtml) {
    if (!answers) return text;
    var result = text;
    Object.keys(answers).forEach(function (written) {
      var value = answers[written];
      if (value) result = result.split(written).join(isHtml ? escapeHtml(value) : value);
    });
    return result;
  }

  // Resolves with {written: value} (a value left empty keeps its question), or null when the
  // person cancels; at once with {} when the text asks nothing.
  function ask(text, language) {
    var prompts = promptsIn(text);
    var dialog = document.querySelector("[data-prompt-dialog]");
    if (!prompts.length) return Promise.resolve({});
    if (!dialog || typeof dialog.showModal !== "function") return Promise.resolve({});
    var holder = dialog.querySelector("[data-prompt-fields]");
    holder.textContent = "";
    prompts.forEach(function (prompt, index) {
      var field = document.createElement("div");
      field.className = "field";
      var label = document.createElement("label");
      label.setAttribute("for", "prompt-" + index);
      label.textContent = prompt.label;
      var input = document.createElement("input");
      input.id = "prompt-" + index;
      input.type = prompt.isDate ? "date" : "text";
      input.setAttribute("data-prompt-written", prompt.written);
      input.setAttribute("data-prompt-date", prompt.isDate ? "1" : "");
      field.appendChild(label);
      field.appendChild(input);
      holder.appendChild(field);
    });
    return new Promise(function (resolve) {
      function closed() {
        dialog.removeEventListener("close", closed);
        if (dialog.returnValue !== "ok") {
          resolve(null);
          return;
        }
        var answers = {};
        holder.querySelectorAll("[data-prompt-written]").forEach(function (input) {
          var value = input.value.trim();
          if (!value) return;
          if (input.getAttribute("data-prompt-date")) value = formatDate(value, language);
          answers[input.getAttribute("data-prompt-written")] = value;
        });
        resolve(answers);
      }
      dialog.returnValue = "";
      dialog.addEventListener("close", closed);
      dialog.showModal();
      var first = holder.querySelector("input");
      if (first) first.focus();
    });
  }

  window.CourrierPrompts = { promptsIn: promptsIn, ask: ask, apply: apply };
})();
