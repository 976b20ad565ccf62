"""Fixtures of the deployment tests: the stack templates, and the app packaged once per session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra import INFRA_DIR
from infra.package import PackageResult, load_template, package


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "packaging: runs `chalice package` (once per session; about 10 s warm, under a minute cold)"
    )


@pytest.fixture(scope="session")
def queues_stack() -> dict[str, Any]:
    return load_template(INFRA_DIR / "queues.yaml")


@pytest.fixture(scope="session")
def storage_stack() -> dict[str, Any]:
    return load_template(INFRA_DIR / "storage.yaml")


@pytest.fixture(scope="session")
def database_stack() -> dict[str, Any]:
    return load_template(INFRA_DIR / "database.yaml")


@pytest.fixture(scope="session")
def privacy_stack() -> dict[str, Any]:
    return load_template(INFRA_DIR / "privacy-function.yaml")


@pytest.fixture(scope="session")
def packaged() -> PackageResult:
    """`make package` for dev, without cfn-lint (the tests lint)."""
    return package("dev")


@pytest.fixture(scope="session")
def app_template(packaged: PackageResult) -> dict[str, Any]:
    return load_template(Path(packaged.template))
