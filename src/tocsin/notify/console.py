"""Print messages to a text stream, for development and for `tocsin` demos without a network."""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from tocsin.notify import Message, Outcome, SendResult

__all__ = ["ConsoleAdapter", "render"]


def render(message: Message) -> str:
    """Return a message as readable plain text, ending in a blank line."""
    lines = [message.subject, "=" * min(len(message.subject), 78)]
    if message.text.strip():
        lines.append(message.text.rstrip("\n"))
    if message.items:
        lines += ["", *(f"  - {item}" for item in message.items)]
    links = [
        ("Incident", message.url),
        ("Acknowledge", message.ack_url),
        ("Runbook", message.runbook_url),
    ]
    present = [f"{label + ':':<12} {url}" for label, url in links if url]
    if present:
        lines += ["", *present]
    return "\n".join(lines) + "\n\n"


class ConsoleAdapter:
    """Write each message to a text stream."""

    def __init__(self, stream: TextIO | None = None) -> None:
        # None means "sys.stdout at send time", so pytest's capture and a redirected stdout
        # are honoured even when the adapter was built before they took effect.
        self._stream = stream
        self._lock = threading.Lock()  # one message's lines stay together across threads

    def send(self, message: Message) -> SendResult:
        """Write the message and report it SENT."""
        stream = self._stream if self._stream is not None else sys.stdout
        text = render(message)
        try:
            with self._lock:
                stream.write(text)
                stream.flush()
        except (OSError, ValueError) as exc:
            # A closed stream (ValueError) or a broken pipe (OSError) will not heal by retrying;
            # reporting it beats both raising (the protocol forbids it) and claiming SENT.
            return SendResult(Outcome.PERMANENT, f"cannot write to the console: {exc}")
        return SendResult(Outcome.SENT, "written to the console")

    def close(self) -> None:
        """Nothing to release: the stream belongs to whoever gave it."""
