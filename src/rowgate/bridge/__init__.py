"""The bridge: turns a Better Auth session cookie into a short-lived HS256 token
for the data API."""

from rowgate.bridge.route import bridge_route
from rowgate.bridge.token import mint_token

__all__ = ["bridge_route", "mint_token"]
