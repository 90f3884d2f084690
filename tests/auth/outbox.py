"""A mail hook that keeps what the auth core asks it to send, and clients whose
app has it configured, for the email-flow tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import httpx
from psycopg_pool import AsyncConnectionPool

from rowgate.auth.mail import EmailMessage
from tests.auth.support import client_for, make_options


@dataclass
class Outbox:
    messages: list[EmailMessage] = field(default_factory=list)
    fail: bool = False

    async def __call__(self, message: EmailMessage) -> None:
        if self.fail:
            raise ConnectionError("the mail server is down")
        self.messages.append(message)

    def only(self) -> EmailMessage:
        (message,) = self.messages
        return message


def mail_client(
    pool: AsyncConnectionPool, outbox: Outbox, **changes: object
) -> httpx.AsyncClient:
    """A client for an app whose reset and verification mails go to ``outbox``."""
    options = make_options(
        send_reset_password=outbox, send_verification_email=outbox, **changes
    )
    return client_for(pool, options)


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def local_path(url: str) -> str:
    """``url`` without its scheme and host, for the test client."""
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")
