"""The messages the auth core asks the app to deliver, and a development transport.

Better Auth leaves delivery to the app: it calls ``sendResetPassword`` and
``sendVerificationEmail`` with the user, a ready link and the bare token. The
auth core does the same through ``EmailSender`` hooks in ``AuthOptions``;
``console_transport`` is one that only logs the link, for development.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from rowgate.auth.store import User

logger = logging.getLogger("rowgate.auth.mail")


@dataclass(frozen=True)
class EmailMessage:
    """One email to send: ``to`` is the address, which for an email change's
    verification is the new address rather than ``user.email``; a change's
    confirmation goes to the current address and names the new one."""

    kind: str
    to: str
    user: User
    url: str
    token: str
    new_email: str | None = None


EmailSender = Callable[[EmailMessage], Awaitable[None]]

RESET_MAIL = "reset-password"
VERIFICATION_MAIL = "verify-email"
DELETE_ACCOUNT_MAIL = "delete-account"
CHANGE_EMAIL_CONFIRMATION_MAIL = "change-email-confirmation"


async def console_transport(message: EmailMessage) -> None:
    """Log the link instead of mailing it; for development only, since anyone
    who reads the log can use the link."""
    logger.warning("%s email for %s: %s", message.kind, message.to, message.url)


async def send_quietly(sender: EmailSender, message: EmailMessage) -> None:
    """Deliver ``message``, logging a failure instead of raising it.

    Used where the answer must not depend on whether the address belongs to
    an account (a failing hook would otherwise turn "known" into a 500).
    """
    try:
        await sender(message)
    except Exception:
        logger.exception("sending the %s email to %s failed", message.kind, message.to)
