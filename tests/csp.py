"""Browser tests under the Content-Security-Policy: what the browser refused, as it says it."""

from __future__ import annotations

from playwright.sync_api import BrowserContext, ConsoleMessage

# Every document of the context reports its refusals on the console (sandboxed mail frames,
# where no script runs, report through Chromium's own console message).
REPORT = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(
    "CSP violation: " + event.effectiveDirective + " blocked " + (event.blockedURI || "inline")
    + " in " + event.documentURI + " " + (event.sample || "")
  );
});
"""


class Violations:
    """Collects the policy refusals of every page of `context` (call `watch` before opening
    pages)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def watch(self, context: BrowserContext) -> Violations:
        context.add_init_script(REPORT)
        context.on("console", self._console)
        return self

    def _console(self, message: ConsoleMessage) -> None:
        text = message.text
        if "CSP violation" in text or "Content Security Policy" in text:
            self.seen.append(text)
