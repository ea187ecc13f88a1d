"""Phone numbers as paging providers take them (E.164), and what their delivery reports mean."""

from __future__ import annotations

import re
from dataclasses import dataclass

# What each key of a page call does, in the order the call says them.
KEYS = {"4": "acknowledge", "6": "resolve", "9": "escalate"}
PROMPT = "Press 4 to acknowledge, 6 to resolve, or 9 to escalate now."

# A plus, a country code that does not start with 0, and at most 15 digits in all.
E164 = re.compile(r"\+[1-9][0-9]{7,14}")


@dataclass(frozen=True, slots=True)
class Receipt:
    """What one status report of a text or a call means for the page it carried.

    `reached` is True when the text was delivered or a person answered the call, False when the
    page did not reach anyone (failed, undelivered, busy, no answer, a voicemail box), and None
    while it is still on its way; `final` reports are the last of their text or call.
    """

    final: bool
    reached: bool | None
    words: str


# A text: accepted/queued/sending/sent are steps on the way; delivered (and read, where the
# channel says so) is its end; failed and undelivered say it never arrived.
_TEXT_ON_ITS_WAY = frozenset({"accepted", "scheduled", "queued", "sending", "sent"})
_TEXT_ARRIVED = frozenset({"delivered", "read", "received"})
_TEXT_LOST = frozenset({"failed", "undelivered", "canceled"})
# A call: queued/initiated/ringing/in-progress are steps; completed is answered by someone,
# and busy, no-answer, failed and canceled all mean nobody picked up.
_CALL_ON_ITS_WAY = frozenset({"queued", "initiated", "ringing", "in-progress", "answered"})
_CALL_LOST = {
    "busy": "the line was busy",
    "no-answer": "no answer",
    "failed": "the call failed",
    "canceled": "the call was canceled",
}


# What a call a machine answered is stored as: its own end, whatever the call did after.
MACHINE = "machine"


def receipt(kind: str, status: str) -> Receipt:
    """Return what a stored status (`stored_status`) of a text ("sms") or call means."""
    return call_receipt(status) if kind == "voice" else text_receipt(status)


def stored_status(status: str, answered_by: str = "") -> str:
    """Return the status to keep of a report: the provider's, or `MACHINE` for a call a
    voicemail box or fax answered."""
    answered_by = answered_by.strip().lower()
    if answered_by.startswith("machine") or answered_by == "fax":
        return MACHINE
    return status.strip().lower()[:20]


def text_receipt(status: str, error_code: str = "") -> Receipt:
    """Return what a text's status report (MessageStatus, ErrorCode) means."""
    status = status.strip().lower()
    if status in _TEXT_ARRIVED:
        return Receipt(True, True, "delivered")
    if status in _TEXT_LOST:
        code = f" (error {error_code})" if error_code.strip().isdigit() else ""
        return Receipt(True, False, f"not delivered{code}")
    return Receipt(False, None, status if status in _TEXT_ON_ITS_WAY else f"reported {status!r}")


def call_receipt(status: str, answered_by: str = "") -> Receipt:
    """Return what a call's status report (CallStatus, AnsweredBy) means.

    A call that a voicemail box or a fax machine answered (AnsweredBy machine_start,
    machine_end_beep, fax...) reached no one: the page goes on to the next method.
    """
    status, answered_by = status.strip().lower(), answered_by.strip().lower()
    machine = answered_by.startswith("machine") or answered_by == "fax"
    if status == MACHINE or (status == "completed" and machine):
        return Receipt(True, False, "a voicemail box answered")
    if status == "completed":
        return Receipt(True, True, "answered")
    if status in _CALL_LOST:
        return Receipt(True, False, _CALL_LOST[status])
    if status in _CALL_ON_ITS_WAY:
        return Receipt(False, None, status)
    return Receipt(False, None, f"reported {status!r}")
