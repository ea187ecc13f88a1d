"""What a phone provider's status reports mean for the page a text or call carried."""

from __future__ import annotations

import pytest

from tocsin.core.phone import MACHINE, Receipt, call_receipt, receipt, stored_status, text_receipt


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        ("queued", "", Receipt(False, None, "queued")),
        ("sent", "", Receipt(False, None, "sent")),
        ("delivered", "", Receipt(True, True, "delivered")),
        ("undelivered", "30003", Receipt(True, False, "not delivered (error 30003)")),
        ("failed", "", Receipt(True, False, "not delivered")),
        ("FAILED", "x", Receipt(True, False, "not delivered")),  # a code that is no number
        ("teleported", "", Receipt(False, None, "reported 'teleported'")),
    ],
)
def test_text_reports(status: str, code: str, expected: Receipt) -> None:
    assert text_receipt(status, code) == expected


@pytest.mark.parametrize(
    ("status", "answered_by", "expected"),
    [
        ("initiated", "", Receipt(False, None, "initiated")),
        ("ringing", "", Receipt(False, None, "ringing")),
        ("in-progress", "human", Receipt(False, None, "in-progress")),
        ("completed", "human", Receipt(True, True, "answered")),
        ("completed", "unknown", Receipt(True, True, "answered")),
        ("completed", "", Receipt(True, True, "answered")),
        ("completed", "machine_end_beep", Receipt(True, False, "a voicemail box answered")),
        ("completed", "fax", Receipt(True, False, "a voicemail box answered")),
        ("busy", "", Receipt(True, False, "the line was busy")),
        ("no-answer", "", Receipt(True, False, "no answer")),
        ("failed", "", Receipt(True, False, "the call failed")),
        ("canceled", "", Receipt(True, False, "the call was canceled")),
    ],
)
def test_call_reports(status: str, answered_by: str, expected: Receipt) -> None:
    assert call_receipt(status, answered_by) == expected


def test_a_machine_answering_is_kept_as_the_calls_end() -> None:
    # "answered" by a voicemail box first, "completed" later without AnsweredBy: the stored
    # status keeps what the first report said, and it is final and not a person reached.
    assert stored_status("in-progress", "machine_start") == MACHINE
    assert receipt("voice", MACHINE) == Receipt(True, False, "a voicemail box answered")
    assert stored_status("Delivered") == "delivered"
    assert receipt("sms", "delivered").reached is True
