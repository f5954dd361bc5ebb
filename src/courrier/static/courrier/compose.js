/* Courrier — compose window and template editor: insert a merge field or a standard phrase at
   the cursor (of the subject, or of the body's editor: see richtext.js), the recipients switch,
   language tabs. Small on purpose: without it the pages still work (fields are typed, every
   section is shown, buttons post the form). */
(function () {
  "use strict";

  var lastTarget = null;

  // Remember the subject or body the user was last in: the pickers' buttons take the focus.
  // A body's editor stands for its textarea (hidden inside the editor's frame).
  document.addEventListener("focusin", function (event) {
    var el = event.target;
    if (!el || !el.matches) return;
    if (el.matches("[data-merge-target]")) lastTarget = el;
    var frame = el.closest(".prose-editor");
    var textarea = frame && frame.querySelector("textarea[data-merge-target]");
    if (textarea) lastTarget = textarea;
  });

  function visible(el) {
    return el && el.isConnected && !el.closest("[hidden]");
  }

  function defaultTarget(from) {
    var scope = (from && from.closest("form")) || document;
    var candidates = scope.querySelectorAll("textarea[data-merge-target]");
    for (var i = 0; i < candidates.length; i++) {
      if (visible(candidates[i])) return candidates[i];
    }
    return document.querySelector("textarea[data-merge-target]");
  }

  function currentTarget(from) {
    return visible(lastTarget) ? lastTarget : defaultTarget(from);
  }

  function replaceSelection(field, text, selectStart, selectEnd) {
    var start = field.selectionStart;
    var end = field.selectionEnd;
    if (typeof start !== "number") {
      start = end = field.value.length;
    }
    field.value = field.value.slice(0, start) + text + field.value.slice(end);
    var from = typeof selectStart === "number" ? start + selectStart : start + text.length;
    var to = typeof selectEnd === "number" ? start + selectEnd : start + text.length;
    field.focus();
    field.setSelectionRange(from, to);
    field.dispatchEvent(new Event("input", { bubbles: true }));
  }

  // A field is text; a phrase is HTML (the stored format), inserted as such in the editor.
  function insertAtCursor(field, text, isHtml) {
    var editor = field.richEditor;
    if (editor) {
      var content = isHtml ? text : { type: "text", text: text };
      // A phrase of one paragraph goes into the sentence at the cursor, not below it.
      var single = isHtml && /^<p>((?:(?!<\/?p>)[\s\S])*)<\/p>$/.exec(text.trim());
      if (single) content = single[1];
      // Focused at once: Tiptap's focus() waits for the next frame, and what is typed right
      // after the insertion (the "," after a field) went to the button and was lost.
      if (!editor.view.hasFocus()) editor.view.focus();
      editor.chain().focus().insertContent(content).run();
      return;
    }
    if (isHtml && field.tagName === "INPUT") {
      // The subject is plain text: the phrase's words only.
      text = new DOMParser().parseFromString(text, "text/html").body.textContent.trim();
    }
    replaceSelection(field, text);
  }

  // "Insérer des données": {CODE} at the cursor, in the subject or the body.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-merge-insert]");
    if (!button) return;
    event.preventDefault();
    var picker = button.closest("[data-merge-picker]");
    var select = picker && picker.querySelector("[data-merge-select]");
    if (!select || !select.value) return;
    var target = currentTarget(picker);
    if (!target) return;
    insertAtCursor(target, "{" + select.value + "}");
  });

  // "Texte": the phrase in the picker's language, fetched then inserted at the cursor.
  function say(text, isError) {
    var notice = document.querySelector("[data-phrase-notice]");
    if (!notice) return;
    notice.textContent = text || "";
    notice.className = "small" + (text ? (isError ? " alert alert-error" : " alert alert-info") : "");
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-phrase-insert]");
    if (!button) return;
    event.preventDefault();
    var picker = button.closest("[data-phrase-picker]");
    var select = picker && picker.querySelector("[data-phrase-select]");
    if (!select || !select.value) return;
    var target = currentTarget(picker);
    if (!target) return;
    // The language of the mail as it is now, else the one the picker was drawn for.
    var languageField = document.querySelector("#compose-form [name=language]");
    var language = (languageField && languageField.value) || picker.getAttribute("data-language") || "";
    var url = picker.getAttribute("data-phrase-text-url") +
      "?phrase=" + encodeURIComponent(select.value) + "&language=" + encodeURIComponent(language);
    // The cursor position is kept: the fetch takes the focus away for a moment.
    var start = target.selectionStart, end = target.selectionEnd;
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        return response.json().then(function (data) { return { ok: response.ok, data: data }; });
      })
      .then(function (result) {
        if (!result.ok) {
          say(result.data.error || "", true);
          return;
        }
        // A value the phrase asks for (a deadline, an amount) is typed before it goes in.
        var text = result.data.text;
        var prompts = window.CourrierPrompts;
        var asking = prompts ? prompts.ask(text, result.data.language) : Promise.resolve({});
        return asking.then(function (answers) {
          if (answers === null) { target.focus(); return; }
          if (typeof start === "number" && !target.richEditor) target.setSelectionRange(start, end);
          insertAtCursor(target, prompts ? prompts.apply(text, answers, true) : text, true);
          say(result.data.notice || "", false);
        });
      })
      .catch(function () {
        say(document.body.getAttribute("data-error-offline") || "", true);
      });
  });

  // The recipients switch: one client or a selection; each shows its own panels.
  function show(el, on) {
    el.hidden = !on;
    el.style.display = on ? "" : "none";
  }

  function applyRecipients(form) {
    var checked = form.querySelector("input[name=recipients]:checked");
    if (!checked) return;
    document.querySelectorAll("[data-recipients-panel]").forEach(function (panel) {
      show(panel, panel.getAttribute("data-recipients-panel") === checked.value);
    });
  }

  function applyArchive(form) {
    var box = form.querySelector("input[name=archive]");
    var note = document.querySelector("[data-archive-note]");
    if (box && note) show(note, !box.checked);
  }

  document.addEventListener("change", function (event) {
    var form = event.target.closest && event.target.closest("[data-compose-window]");
    if (!form) return;
    if (event.target.name === "recipients") applyRecipients(form);
    if (event.target.name === "archive") applyArchive(form);
    if (event.target.name === "language") reloadPhrases();
  });

  function reloadPhrases() {
    var slot = document.getElementById("phrase-picker-slot");
    if (slot && window.htmx) window.htmx.trigger(slot, "reload");
  }

  // A template loaded for one recipient may ask for values: asked once, written in its
  // subject and body. For several recipients each gets its own version, asked nothing here
  // (the pre-send check blocks a version that still asks).
  function askLoadedTemplate(form) {
    var prompts = window.CourrierPrompts;
    if (!prompts || !form || form.hasAttribute("data-several-recipients")) return;
    var mode = form.querySelector("input[name=recipients]:checked");
    if (mode && mode.value === "selection") return;
    var subject = form.querySelector("[name=subject]");
    var body = form.querySelector("[name=body]");
    var language = form.querySelector("[name=language]");
    if (!subject || !body) return;
    prompts.ask(subject.value + "\n" + body.value, language ? language.value : "").then(function (answers) {
      if (!answers) return;
      subject.value = prompts.apply(subject.value, answers);
      // The body is HTML, shown in its editor: the answers go in escaped, through the editor.
      var html = prompts.apply(body.value, answers, true);
      if (body.richEditor) body.richEditor.commands.setContent(html);
      body.value = html;
    });
  }

  // A template loaded into the window may change its language: the phrases follow it.
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = (event.detail && event.detail.target) || event.target;
    var form = document.querySelector("[data-compose-window]");
    if (target && target.id === "compose-fields") {
      reloadPhrases();
      askLoadedTemplate(form);
    }
    if (form) applyRecipients(form);
  });

  // Sending twice by a double click: the second click does nothing (the server would answer
  // with the first anyway, thanks to the form's one-time key).
  document.addEventListener("submit", function (event) {
    var submitter = event.submitter;
    if (!submitter || !submitter.hasAttribute("data-send-once")) return;
    if (submitter.dataset.sent) {
      event.preventDefault();
      return;
    }
    submitter.dataset.sent = "1";
    window.setTimeout(function () { submitter.setAttribute("aria-disabled", "true"); }, 0);
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

  // A choice made while the page was still loading (htmx not ready yet) would be lost: once
  // htmx is ready, a select that no longer shows its first value announces its change again.
  function replayEarlyChanges(form) {
    form.querySelectorAll("select[hx-trigger*=change], [hx-trigger*=change] select").forEach(function (select) {
      var initial = null;
      for (var i = 0; i < select.options.length; i++) {
        if (select.options[i].defaultSelected) { initial = select.options[i]; break; }
      }
      initial = initial || select.options[0];
      if (initial && !select.multiple && select.value !== initial.value) {
        select.dispatchEvent(new Event("change", { bubbles: true }));
      }
    });
  }

  function init() {
    initTabs();
    var form = document.querySelector("[data-compose-window]");
    if (form) {
      applyRecipients(form);
      applyArchive(form);
      if (window.htmx) {
        window.htmx.onLoad(function (element) {
          if (element === document.body) replayEarlyChanges(form);
        });
      }
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
