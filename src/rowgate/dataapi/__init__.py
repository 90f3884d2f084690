"""The PostgREST-compatible data API: one ASGI app over an ``authenticator`` pool.

Requests flow request → plan → query → tx → response, each stage its own module;
``jwt`` decides the role, ``errors`` holds the error tree and status table.
"""

from rowgate.dataapi.app import DataApi
from rowgate.dataapi.config import DataApiConfig

__all__ = ["DataApi", "DataApiConfig"]
