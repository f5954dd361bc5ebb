"""The outbox serves the apps that send mail and never reaches back into them.

`courrier.mailing` is the pipeline; billing, taxes and documents are its clients: they
register their contexts, fields and batch hooks with it (in their `AppConfig.ready`).
An import the other way, even inside a function, would tie the pipeline to one of its
clients again. And its clients reach it only through its public face: the services
(`courrier.mailing.services`, not its modules), the registry of contexts and fields, its
tables and its errors; what they need of its insides is re-exported by the services.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parent.parent / "src" / "courrier"
CLIENT_APPS = ("courrier.billing", "courrier.taxes", "courrier.documents")


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module `path` imports, at any depth of its code, with the line."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module))
    return found


def _reaches_a_client_app(module: str) -> bool:
    return any(module == app or module.startswith(app + ".") for app in CLIENT_APPS)


def test_the_outbox_never_imports_the_apps_it_serves() -> None:
    modules = sorted((SOURCE / "mailing").rglob("*.py"))
    assert len(modules) > 30, "the mailing package was not found where expected"
    wrong = [
        f"{path.relative_to(SOURCE)}:{line} imports {module}"
        for path in modules
        for line, module in _imports(path)
        if _reaches_a_client_app(module)
    ]
    assert wrong == []


# What billing, taxes and documents may import of the outbox.
PUBLIC = (
    "courrier.mailing.services",
    "courrier.mailing.contexts",
    "courrier.mailing.fields",
    "courrier.mailing.models",
    "courrier.mailing.exceptions",
)


def _reaches_the_outbox_inside(path: Path, line: int, module: str) -> bool:
    """An import of the outbox other than its public face (a `from courrier.mailing import
    x` is judged by the names it takes)."""
    if module == "courrier.mailing":
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = [
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.lineno == line and node.module == module
            for alias in node.names
        ]
        return any(f"{module}.{name}" not in PUBLIC for name in names)
    return module.startswith("courrier.mailing.") and module not in PUBLIC


def test_the_apps_it_serves_import_only_its_public_face() -> None:
    modules = [
        path
        for app in CLIENT_APPS
        for path in sorted((SOURCE / app.split(".")[1]).rglob("*.py"))
        if "migrations" not in path.parts
    ]
    assert len(modules) > 30, "the client apps were not found where expected"
    wrong = [
        f"{path.relative_to(SOURCE)}:{line} imports {module}"
        for path in modules
        for line, module in _imports(path)
        if _reaches_the_outbox_inside(path, line, module)
    ]
    assert wrong == []


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("from courrier.mailing.services.store import messages_store", True),
        ("def f():\n    from courrier.mailing.rendering import body_html\n", True),
        ("from courrier.mailing import links", True),
        ("from courrier.mailing import contexts, services", False),
        ("from courrier.mailing.services import batch_compose", False),
        ("from courrier.mailing.models import MailBatch", False),
    ],
)
def test_the_second_rule_sees_what_is_inside(tmp_path: Path, code: str, expected: bool) -> None:
    module = tmp_path / "module.py"
    module.write_text(code, encoding="utf-8")
    found = [_reaches_the_outbox_inside(module, line, name) for line, name in _imports(module)]
    assert any(found) is expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("from courrier.billing.services.sending import x", True),
        ("def f():\n    import courrier.taxes.models\n", True),
        ("from courrier.mailing import contexts", False),
        ("from courrier.billingx import y", False),
    ],
)
def test_the_rule_sees_imports_at_any_depth(tmp_path: Path, code: str, expected: bool) -> None:
    module = tmp_path / "module.py"
    module.write_text(code, encoding="utf-8")
    assert any(_reaches_a_client_app(name) for _, name in _imports(module)) is expected
