"""The repository protocols the services see match the PostgreSQL repositories behind them."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from typing import Protocol

import pytest

from chalicelib.adapters import outbox, postgres_uow
from chalicelib.services import repositories, unit_of_work

PROTOCOLS = {name: getattr(repositories, name) for name in repositories.__all__}


def test_the_package_exports_every_protocol_of_its_modules() -> None:
    # Given the modules of the repositories package, one per flow
    declared = {}
    for info in pkgutil.iter_modules(repositories.__path__):
        module = importlib.import_module(f"{repositories.__name__}.{info.name}")
        declared.update({
            name: cls for name, cls in vars(module).items()
            if inspect.isclass(cls) and cls.__module__ == module.__name__ and Protocol in cls.__bases__
        })
    # Then the package exports each protocol under its own name, and nothing else
    assert declared
    assert declared == PROTOCOLS


def _module_of(protocol: type) -> str:
    found = re.search(r"`adapters/(\w+)(?:\.py|/)`", protocol.__doc__ or "")
    assert found, f"{protocol.__name__} names no adapter module in its docstring"
    return f"chalicelib.adapters.{found.group(1)}"


def _parameters(function: object, *, drop: str) -> list[tuple[str, object, bool]]:
    params = list(inspect.signature(function).parameters.values())  # type: ignore[arg-type]
    assert params and params[0].name == drop, f"{function} does not take `{drop}` first"
    return [(p.name, p.kind, p.default is not inspect.Parameter.empty) for p in params[1:]]


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_every_protocol_method_exists_in_its_adapter_with_the_same_parameters(name: str) -> None:
    # Given a repository protocol and the adapter module its docstring names
    protocol = PROTOCOLS[name]
    module = importlib.import_module(_module_of(protocol))
    methods = [m for m in vars(protocol) if not m.startswith("_") and callable(getattr(protocol, m))]
    assert methods
    for method in methods:
        # Then the adapter has the function, taking the connection first and then the same parameters
        function = getattr(module, method, None)
        assert function is not None, f"{module.__name__}.{method} is missing"
        assert _parameters(function, drop="conn") == _parameters(getattr(protocol, method), drop="self"), method


def test_the_unit_of_work_offers_every_repository_and_the_postgres_one_binds_each() -> None:
    declared = {k: v for k, v in inspect.get_annotations(unit_of_work.UnitOfWork, eval_str=True).items()}
    assert set(declared.values()) == set(PROTOCOLS.values())
    bound = dict(postgres_uow._REPOSITORIES, outbox=outbox)
    assert set(bound) == set(declared)
    for attribute, protocol in declared.items():
        assert bound[attribute].__name__ == _module_of(protocol)
