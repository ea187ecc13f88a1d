"""Phone calls through a Twilio-compatible Calls API, placed with the `twilio` library.

The call reads the page aloud (TwiML `<Say>`) inside a `<Gather>`: the person presses 4 to
acknowledge, 6 to resolve or 9 to escalate now, and the provider posts the key to Tocsin's
`keys_url`. Placing the call is all `send` does: whether anyone answered comes later, in the
provider's status callbacks to `status_url` (answered, busy, no answer, a voicemail box),
which decide whether the page reached the person.
"""

from __future__ import annotations

import re

from twilio.base.exceptions import TwilioException
from twilio.twiml.voice_response import VoiceResponse

from tocsin.core.phone import PROMPT
from tocsin.notify import Message, Outcome, SendResult
from tocsin.notify.sms import PhoneAdapter, refused

__all__ = ["VoiceAdapter", "spoken", "twiml"]
# How long the phone rings before the provider gives up (and reports no-answer), in seconds.
RING_SECONDS = 30
# The events of the call the provider reports to `status_url`.
CALL_EVENTS = ["initiated", "ringing", "answered", "completed"]
# A text-to-speech engine reads a long page for minutes; a page is read in a few sentences.
SPOKEN_LIMIT = 600

_SEVERITY = re.compile(r"\[SEV-(\d)\]\s*")
_INCIDENT = re.compile(r"\bINC-(\d+)\b")


def spoken(message: Message) -> str:
    """Return the page as it is read aloud: "Severity 1. Incident 12, checkout: Primary down"."""
    parts = [message.subject, *message.items]
    text = ". ".join(parts)
    text = _SEVERITY.sub(lambda m: f"Severity {m.group(1)}. ", text)
    text = _INCIDENT.sub(lambda m: f"incident {m.group(1)},", text)
    text = text[0].upper() + text[1:] if text else text
    return text if len(text) <= SPOKEN_LIMIT else text[: SPOKEN_LIMIT - 3] + "..."


def twiml(message: Message) -> str:
    """Return the TwiML of the call that reads `message` and asks for a key."""
    response = VoiceResponse()
    words = f"This is Tocsin. {spoken(message)}."
    if message.keys_url:
        gather = response.gather(
            input="dtmf", num_digits=1, timeout=8, action=message.keys_url, method="POST"
        )
        gather.say(f"{words} {PROMPT}", loop=2)
        response.say("No key was pressed. Goodbye.")
    else:  # without a public URL no key can reach Tocsin: say where to acknowledge instead
        response.say(f"{words} Acknowledge it in Tocsin.", loop=2)
    return str(response)


class VoiceAdapter(PhoneAdapter):
    """Place each message as one call to one phone number."""

    def send(self, message: Message) -> SendResult:
        """Ask the provider to place the call once and classify its answer."""
        extra: dict[str, object] = {}
        if message.status_url:
            extra = {
                "status_callback": message.status_url,
                "status_callback_event": CALL_EVENTS,
                "status_callback_method": "POST",
            }
        try:
            call = self._client.calls.create(
                to=self.to_number,
                from_=self.account.from_number,
                twiml=twiml(message),
                timeout=RING_SECONDS,
                # A voicemail box that picks up is reported as a machine: not a person reached.
                machine_detection="Enable",
                **extra,
            )
        except (TwilioException, OSError) as exc:
            return refused("Voice", exc)
        return SendResult(Outcome.SENT, f"call {call.sid} {call.status}", reference=call.sid)
