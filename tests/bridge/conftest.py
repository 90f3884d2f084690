"""The bridge tests share the auth tests' fixtures."""

from tests.auth.conftest import client, pool

__all__ = ["client", "pool"]
