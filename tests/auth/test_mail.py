"""The console transport, quiet delivery, and the email options' checks."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from rowgate.auth import console_transport
from rowgate.auth.errors import AuthConfigError
from rowgate.auth.mail import EmailMessage, send_quietly
from rowgate.auth.store import User
from tests.auth.outbox import Outbox
from tests.auth.support import make_options

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
USER = User("u1", "Ann", "ann@example.com", False, None, NOW, NOW)
MESSAGE = EmailMessage(
    "verify-email",
    "ann@example.com",
    USER,
    "http://x/api/auth/verify-email?token=t",
    "t",
)


async def test_console_transport_logs_the_link(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="rowgate.auth.mail"):
        await console_transport(MESSAGE)
    (record,) = caplog.records
    assert record.name == "rowgate.auth.mail"
    assert MESSAGE.url in record.getMessage()
    assert "ann@example.com" in record.getMessage()


async def test_send_quietly_logs_a_failing_hook(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="rowgate.auth.mail"):
        await send_quietly(Outbox(fail=True), MESSAGE)
    assert "verify-email" in caplog.records[0].getMessage()


def test_email_defaults_are_better_auths_except_revocation() -> None:
    options = make_options()
    assert options.send_reset_password is None
    assert options.send_verification_email is None
    assert options.reset_password_token_expires_in == 3600
    assert options.verification_token_expires_in == 3600
    assert options.revoke_sessions_on_password_reset is True
    assert (options.auto_sign_in, options.require_email_verification) == (True, False)
    assert (options.change_email_enabled, options.delete_user_enabled) == (False, False)


def test_send_on_sign_up_follows_required_verification() -> None:
    assert make_options(require_email_verification=True).sends_on_sign_up
    assert not make_options().sends_on_sign_up
    assert not make_options(
        require_email_verification=True, send_on_sign_up=False
    ).sends_on_sign_up


@pytest.mark.parametrize(
    "field", ["reset_password_token_expires_in", "verification_token_expires_in"]
)
def test_token_lifetimes_must_be_positive(field: str) -> None:
    with pytest.raises(AuthConfigError, match="lifetimes"):
        make_options(**{field: 0})
