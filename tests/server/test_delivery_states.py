"""What a person reads of an outbox job: the provider's many words as queued → sent →
delivered / failed, and a failure's reason (server/alarms/deliveries.py)."""

from __future__ import annotations

import pytest

from server import words
from server.alarms import deliveries
from server.alarms.deliveries import reason_of, state_of


@pytest.mark.parametrize(
    ("channel", "status", "provider", "state"),
    [
        ("sms", "pending", None, "queued"),
        ("sms", "sending", None, "queued"),
        ("sms", "sending", "delivered", "delivered"),  # a receipt that beat the worker
        ("sms", "sent", "queued", "queued"),
        ("sms", "sent", "accepted", "queued"),
        ("sms", "sent", "sending", "sent"),
        ("sms", "sent", "sent", "sent"),
        ("sms", "sent", "delivered", "delivered"),
        ("sms", "sent", "read", "delivered"),
        ("sms", "sent", "undelivered", "failed"),
        ("sms", "failed", None, "failed"),
        ("sms", "withdrawn", None, "withdrawn"),
        ("voice", "sent", "queued", "queued"),
        ("voice", "sent", "initiated", "queued"),
        ("voice", "sent", "ringing", "sent"),
        ("voice", "sent", "answered", "delivered"),
        ("voice", "sent", "completed", "delivered"),
        ("voice", "sent", "no-answer", "failed"),
        ("voice", "sent", "busy", "failed"),
        ("push", "sending", None, "queued"),
        ("push", "sent", "201", "sent"),
        ("push", "failed", None, "failed"),
    ],
)
def test_each_provider_word_reads_as_one_state(
    channel: str, status: str, provider: str | None, state: str
) -> None:
    assert state_of(channel=channel, status=status, delivery_status=provider) == state


@pytest.mark.parametrize(
    ("code", "provider", "error", "reason"),
    [
        ("21211", None, "Twilio refused the message (HTTP 400, code 21211)", "invalid_number"),
        ("30003", "undelivered", "undelivered (Twilio error 30003)", "unreachable"),
        (None, "no-answer", "no-answer", "no_answer"),
        (None, "busy", "busy", "busy"),
        (None, None, "expired before it could be sent", "expired"),
        ("gone", None, "the subscription is gone", "push_gone"),
        ("99999", None, "something new", "provider"),
    ],
)
def test_a_failure_has_a_reason_the_catalogue_says_plainly(
    code: str | None, provider: str | None, error: str, reason: str
) -> None:
    assert reason_of(state="failed", error_code=code, delivery_status=provider, error=error) == (
        reason
    )
    assert (
        reason_of(state="delivered", error_code=code, delivery_status=provider, error=error) is None
    )


def test_every_reason_is_in_the_catalogue() -> None:
    known = words.catalogue()
    reasons = {*deliveries.REASONS.values(), *deliveries.STATUS_REASONS.values()}
    reasons |= {"expired", "provider"}
    for reason in reasons:
        assert f"recipients.reason.{reason}" in known["zh"]
        assert f"recipients.reason.{reason}" in known["en"]
    for state in deliveries.RANK:
        assert f"recipients.state.{state}" in known["zh"]
