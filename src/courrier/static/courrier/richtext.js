/* Courrier — the rich-text editor of a mail's body, a template, a standard phrase.

   Each textarea[data-richtext] becomes the editor of django-prose-editor (Tiptap/ProseMirror,
   served by the application). The textarea stays in its form and receives the HTML at every
   change, so the form posts it as before, HTMX requests included; the server sanitises it.
   Without this script the textarea shows the HTML, and plain text typed there is accepted.

   textarea.richEditor is the editor (compose.js inserts fields and phrases at its cursor). */

let editorModule = null;

function settingsOf(textarea) {
  try {
    return JSON.parse(textarea.getAttribute("data-richtext") || "{}");
  } catch (error) {
    return {};
  }
}

async function loadEditor(textarea) {
  if (editorModule) return editorModule;
  const settings = settingsOf(textarea);
  const labels = settings.labels || {};
  // The package's dialogs ask window.gettext for their words when it loads.
  if (typeof window.gettext !== "function") {
    window.gettext = function (text) { return labels[text] || text; };
  }
  editorModule = await import(settings.editor);
  return editorModule;
}

// The toolbar's titles are the package's English words: shown in the reader's language.
function translateToolbar(wrapper, labels) {
  wrapper.querySelectorAll("button[title]").forEach(function (button) {
    const label = labels[button.getAttribute("title")];
    if (!label) return;
    button.setAttribute("title", label);
    button.setAttribute("aria-label", label);
  });
}

// A label's words, without its hidden "required" mark.
function labelText(label) {
  if (!label) return "";
  const copy = label.cloneNode(true);
  copy.querySelectorAll("[aria-hidden=true]").forEach(function (el) { el.remove(); });
  return copy.textContent.trim();
}

function focusAfter(wrapper) {
  const focusable = Array.from(document.querySelectorAll(
    "a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex='-1']), [contenteditable=true]"
  )).filter(function (el) { return el.offsetParent !== null || el === document.activeElement; });
  const next = focusable.find(function (el) {
    return !wrapper.contains(el) && (wrapper.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING);
  });
  if (next) next.focus();
}

// The selection a command acts on. The browser moves the selection itself (Shift+arrows, a
// click, a double click) and ProseMirror learns of it from the page's "selectionchange" event,
// which comes a task later; its keydown reads pending text, not the selection. A key pressed
// in between (Ctrl+K right after Shift+arrows, Ctrl+B, Backspace) acted on the selection of
// before: the link went on "tre portail" when "notre portail" was selected. So before every
// command (a key other than a bare modifier, a toolbar button), the page's selection is read
// first, as ProseMirror reads it on "selectionchange".
const MODIFIERS = new Set(["Shift", "Control", "Alt", "AltGraph", "Meta", "CapsLock"]);

function readSelection(view) {
  const observer = view.domObserver;
  if (!observer || typeof observer.flush !== "function" || view.composing) return;
  try {
    observer.flush();
  } catch (error) {
    console.error("Courrier: the editor's selection could not be read", error);
  }
}

// Focus back in the editor at once, after a toolbar button or a dialog of the editor.
// Tiptap's focus() waits for the next animation frame (for React's sake), and keys pressed
// before that frame (End or a letter right after a link's "Valider") went to the page and
// were lost, or replaced the selection they were meant to follow. Not while a dialog of ours
// holds the focus: that one is being filled in.
function focusNow(editor) {
  if (editor.isDestroyed || editor.view.hasFocus()) return;
  const active = document.activeElement;
  if (active && active !== document.body && active.closest && active.closest("dialog[open]")) return;
  editor.view.focus();
}

// django-prose-editor's createTextareaEditor, without Tiptap's own <style> element: the
// Content-Security-Policy refuses inline styles, so its rules are in courrier/prose-base.css.
function textareaEditor(E, textarea, extensions) {
  const disabled = textarea.hasAttribute("disabled");
  const wrapper = document.createElement("div");
  wrapper.className = disabled ? "prose-editor disabled" : "prose-editor";
  textarea.before(wrapper);
  wrapper.append(textarea);
  return new E.Editor({
    element: wrapper,
    editable: !disabled,
    extensions: extensions,
    content: textarea.value,
    injectCSS: false,
    onUpdate: function ({ editor }) {
      const html = editor.getHTML();
      textarea.value = /^<(\w+)(\s[^>]*)?><\/\1>$/i.test(html) ? "" : html;
      textarea.dispatchEvent(new Event("input", { bubbles: true }));
    },
    onDestroy: function () {
      wrapper.before(textarea);
      wrapper.remove();
    },
  });
}

function create(E, textarea) {
  if (textarea.richEditor || textarea.closest(".prose-editor")) return;
  const settings = settingsOf(textarea);
  const labels = settings.labels || {};
  const editor = textareaEditor(E, textarea, [
    E.Document, E.Paragraph, E.Text, E.HardBreak,
    E.Bold, E.Italic, E.Underline,
    E.BulletList, E.OrderedList, E.ListItem,
    // Not extended by the words typed after it (the server links bare addresses itself).
    E.Link.configure({ enableTarget: false, autolink: false }),
    E.Table, E.TableRow, E.TableHeader, E.TableCell,
    // Always a paragraph after a table, to write on below it.
    E.TrailingNode,
    E.History, E.Dropcursor, E.Gapcursor,
    E.Menu,
  ]);
  const wrapper = textarea.closest(".prose-editor");
  textarea.richEditor = editor;
  // The toolbar is drawn when the editor announces its creation.
  translateToolbar(wrapper, labels);
  editor.on("create", function () { translateToolbar(wrapper, labels); });
  const area = editor.view.dom;
  const label = textarea.id && document.querySelector("label[for='" + textarea.id + "']");
  area.setAttribute("role", "textbox");
  area.setAttribute("aria-multiline", "true");
  area.setAttribute("aria-label", labelText(label) || settings.name || "");
  if (settings.leave) area.setAttribute("aria-description", settings.leave);
  if (textarea.lang) area.setAttribute("lang", textarea.lang);
  if (label) {
    label.addEventListener("click", function () { editor.commands.focus(); });
  }
  // Tab moves between a table's cells and indents list items: Escape leaves the editor.
  // Listened to before the editor's own keys (Escape would select the parent node there).
  area.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") {
      if (!MODIFIERS.has(event.key) && !event.isComposing) readSelection(editor.view);
      return;
    }
    event.preventDefault();
    event.stopPropagation();
    focusAfter(wrapper);
  }, true);
  // A toolbar button acts on the selection too (the menu keeps the focus in the editor), and
  // gives the focus back to it at once, pressed with the mouse or the keyboard.
  wrapper.addEventListener("pointerdown", function (event) {
    if (!area.contains(event.target)) readSelection(editor.view);
  }, true);
  wrapper.addEventListener("click", function (event) {
    if (area.contains(event.target) || event.target.closest("dialog")) return;
    queueMicrotask(function () { focusNow(editor); });
  }, true);
  // A dialog of the editor (a link, a table) closed, by its button or by Escape: the focus
  // comes back before anything else is typed.
  new MutationObserver(function (records) {
    const closed = records.some(function (record) {
      return Array.from(record.removedNodes).some(function (node) {
        return node.nodeType === 1 && (node.matches("dialog") || node.querySelector("dialog"));
      });
    });
    if (closed) focusNow(editor);
  }).observe(wrapper, { childList: true });
  document.querySelectorAll("[data-richtext-fallback]").forEach(function (el) { el.hidden = true; });
  document.querySelectorAll("[data-richtext-help]").forEach(function (el) { el.hidden = false; });
  textarea.dispatchEvent(new CustomEvent("richtext:ready", { bubbles: true, detail: { editor: editor } }));
}

async function start(root) {
  const textareas = (root || document).querySelectorAll
    ? (root || document).querySelectorAll("textarea[data-richtext]")
    : [];
  if (!textareas.length) return;
  let E;
  try {
    E = await loadEditor(textareas[0]);
  } catch (error) {
    // The plain textarea stays: the page works without the editor.
    console.error("Courrier: the editor could not be loaded", error);
    return;
  }
  textareas.forEach(function (textarea) {
    try {
      create(E, textarea);
    } catch (error) {
      console.error("Courrier: the editor could not start", error);
    }
  });
}

start(document);
// "Récupérer modèle" and other partial updates bring new textareas.
document.addEventListener("htmx:load", function (event) { start(event.target); });
