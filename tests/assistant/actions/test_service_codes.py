"""Every service code an action can file exists in the backend's catalogue.

A code the catalogue lacks makes every such ticket fail (every 政策咨询 ticket did, with the literal
"consultation"). The codes are collected from the actions themselves: each ``service_code=`` argument in
``assistant/actions/*.py`` is read from the source and resolved to the codes it can take (a literal, a
``filing_code(purpose)`` setting, the complaint classifier's slot). An argument this test cannot resolve
fails it too, so a new way of choosing a code cannot slip past.
"""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

from common import settings
from dispatch import classify

ACTIONS = Path(__file__).resolve().parents[3] / "assistant" / "actions"


def catalogue_codes() -> set[str]:
    path = settings.resolve_path(settings.section("dispatch")["catalogue_file"])
    return {str(service["code"]) for service in yaml.safe_load(path.read_text(encoding="utf-8"))["services"]}


def classifier_codes() -> set[str]:
    services, fallback = classify.table()
    return {s.service_code for s in services} | {fallback}


def codes_of(node: ast.expr, where: str) -> set[str]:
    """The service codes an expression passed as ``service_code=`` can evaluate to."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.BoolOp):
        return set().union(*(codes_of(value, where) for value in node.values))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "filing_code":
        purpose = ast.literal_eval(node.args[0])
        return {str(settings.section("dispatch")[f"{purpose}_service_code"])}
    source = ast.unparse(node).replace("'", '"')
    if source == 'tracker.get_slot("complaint_service_code")' or source == "classify.table()[1]":
        return classifier_codes()  # the slot is filled by dispatch.classify (complaint.py)
    raise AssertionError(f"{where}: cannot tell which service codes `service_code={source}` files")


def filed_codes() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted(ACTIONS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                for keyword in node.keywords:
                    forwarded = isinstance(keyword.value, ast.Name) and keyword.value.id == "service_code"
                    if keyword.arg == "service_code" and not forwarded:  # submit_ticket passes its own on
                        where = f"{path.name}:{keyword.value.lineno}"
                        found[where] = codes_of(keyword.value, where)
    return found


def test_every_code_an_action_files_is_in_the_catalogue() -> None:
    found = filed_codes()
    assert len(found) >= 4, found  # complaint, consultation, emergency, health report
    catalogue = catalogue_codes()
    unknown = {where: codes - catalogue for where, codes in found.items() if codes - catalogue}
    assert not unknown, f"service codes missing from the catalogue: {unknown}"


def test_every_configured_filing_code_is_in_the_catalogue() -> None:
    configured = {key: str(value) for key, value in settings.section("dispatch").items()
                  if key.endswith("_service_code")}
    assert {"consultation_service_code", "emergency_service_code", "health_service_code"} <= set(configured)
    assert set(configured.values()) <= catalogue_codes(), configured
    assert classifier_codes() <= catalogue_codes()
