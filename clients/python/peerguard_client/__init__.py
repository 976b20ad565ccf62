"""Typed Python client of the peerguard API: `Client` / `AsyncClient` for agents, `AdminClient` for
operators. Models are generated from the API's OpenAPI document (`peerguard_client.models`)."""

from peerguard_client import errors, models
from peerguard_client._core import Page, RetryPolicy
from peerguard_client.admin import AdminClient, ExportJobFailed
from peerguard_client.client import AsyncClient, Client

__all__ = ["AdminClient", "AsyncClient", "Client", "ExportJobFailed", "Page", "RetryPolicy", "errors", "models"]
__version__ = "1.1.0"
