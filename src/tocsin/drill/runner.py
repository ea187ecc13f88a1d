"""Run a drill scenario on a simulated clock through the real ingest, engine and incident code.

The runner owns a `FixedClock` and moves it from one due moment to the next: the scenario's
steps, and whatever the engine says is due next (the next escalation level, a reminder). Alerts
go in through `services.ingest` after Alertmanager's own parser, exactly as the HTTP route
takes them; pages go out through the real outbox `Sender`, into a recording adapter, so nobody
is really paged; responders and the IC act through `services.incidents`, as the CLI does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Engine as Database
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tocsin import app
from tocsin.clock import FixedClock
from tocsin.core import drill
from tocsin.core.alerts import AlertStatus
from tocsin.core.drill import Kind, Scenario, Step
from tocsin.core.incident import EventKind, IncidentStatus, incident_ref
from tocsin.engine.outbox import Destination
from tocsin.errors import Conflict, InvalidInput, TocsinError
from tocsin.ingest import alertmanager
from tocsin.notify import Adapter, Message, Outcome, SendResult
from tocsin.services import incidents, postmortems
from tocsin.services.ingest import for_integration, ingest
from tocsin.settings import Settings
from tocsin.store import integrations, severities
from tocsin.store import services as services_store
from tocsin.store.models import (
    Alert,
    Escalation,
    Incident,
    IncidentRole,
    Integration,
    StatusUpdate,
    TimelineEvent,
)

ACTOR = "drill"
INTEGRATION = "drill"
# Reminders repeat every cadence while an incident is open; a drill whose script leaves the
# incident open stops this long after its last step instead of running forever.
OVERRUN = timedelta(minutes=30)
# The person playing the IC who chooses to wait lets this much simulated time pass.
WAIT = timedelta(minutes=1)
CHOICES = ("assign", "update", "escalate", "mitigate", "resolve", "wait")


@dataclass(frozen=True, slots=True)
class Line:
    """One line of the live timeline."""

    offset: timedelta
    text: str
    source: str  # "script" (the scenario says), "incident" (the timeline), "score"

    def plain(self) -> str:
        """Return the line as printed without a terminal: "+15m   Paging bob ..."."""
        return f"{drill.format_offset(self.offset):<8}{self.text}"


@dataclass(frozen=True, slots=True)
class Situation:
    """What the person playing the IC is told when a decision is due."""

    offset: timedelta
    incident: str
    status: str
    acknowledged_by: str | None
    commander: str | None
    hint: Step | None  # the move the script would make now


@dataclass(frozen=True, slots=True)
class Choice:
    """The IC's answer: a move, who (for assign), what to say (for update), and how long it took."""

    move: str
    thinking: timedelta = timedelta(0)
    who: str | None = None
    message: str | None = None
    public: bool = True


class Commander(Protocol):
    """The person at the keyboard playing the IC in an interactive drill.

    `decide` is called whenever the script reaches one of the IC's moves; it returns a `Choice`
    whose `move` is one of CHOICES and whose `thinking` is the simulated time the decision
    took. It may raise to abort the drill (the CLI's prompt does on end of input).
    """

    def decide(self, situation: Situation) -> Choice: ...


@dataclass
class Result:
    """What a drill produced."""

    scenario: Scenario
    incident: str | None
    record: drill.Record
    card: drill.ScoreCard
    postmortem: str
    lines: list[Line] = field(default_factory=list)


class Recorder:
    """The drill's only delivery adapter: writes each page down, sends nothing anywhere."""

    def __init__(self, clock: FixedClock) -> None:
        self.clock = clock
        self.sent: list[tuple[datetime, str, Message]] = []

    def adapter_for(self, method: Destination) -> Adapter:
        """Return an adapter that records messages for `method` (a webhook is not called)."""
        recorder = self

        class _Recording:
            def send(self, message: Message) -> SendResult:
                recorder.sent.append((recorder.clock.now(), method.name, message))
                return SendResult(Outcome.SENT, "recorded by the drill")

            def close(self) -> None:
                """Nothing to release."""

        return _Recording()


def fingerprint(spec: drill.AlertSpec, run: str) -> str:
    """Return a stable Alertmanager-like fingerprint of an alert's labels within one run."""
    if spec.fingerprint:
        return f"{spec.fingerprint}-{run}"
    labels = json.dumps(dict(sorted(spec.labels.items())), separators=(",", ":"))
    return hashlib.sha256(f"{run}|{labels}".encode()).hexdigest()[:16]


class Runner:
    """Plays one scenario against a configured database."""

    def __init__(
        self,
        scenario: Scenario,
        database: Database,
        settings: Settings,
        clock: FixedClock,
        *,
        show: Callable[[Line], None] = lambda line: None,
        pace: Callable[[timedelta], None] = lambda delta: None,
        commander: Commander | None = None,
        check_open: bool = False,
    ) -> None:
        self.scenario = scenario
        self.clock = clock
        self.start = clock.now()
        self.run_id = self.start.strftime("%Y%m%dT%H%M%S")
        self.show = show
        self.pace = pace
        self.commander = commander
        self.check_open = check_open
        self.recorder = Recorder(clock)
        # The real runtime (engine, outbox, due work), with pages recorded instead of sent.
        runtime = app.build(
            settings,
            clock=clock,
            database=database,
            adapter_for=self.recorder.adapter_for,
            node=ACTOR,
        )
        self.sessions: sessionmaker[Session] = runtime.sessions
        self.engine = runtime.engine
        self.lines: list[Line] = []
        self.incident_id: int | None = None
        self.ref: str | None = None
        self.firing: dict[str, drill.AlertSpec] = {}
        self.seen_event = 0
        self.pages: list[drill.Page] = []
        self.acknowledger: str | None = None
        self.decisions: list[drill.Decision] = []
        self.problems: list[str] = []
        self.mitigated_at: datetime | None = None

    # --- output ------------------------------------------------------------------------------

    @property
    def offset(self) -> timedelta:
        """Return the simulated time since the drill started."""
        return self.clock.now() - self.start

    def say(self, text: str, source: str = "script") -> None:
        """Put a line on the live timeline."""
        line = Line(self.offset, text, source)
        self.lines.append(line)
        self.show(line)

    def _follow_timeline(self) -> None:
        """Show the incident's new timeline entries and note who was paged at which level."""
        if self.incident_id is None:
            return
        with self.sessions() as session:
            events = session.scalars(
                select(TimelineEvent)
                .where(
                    TimelineEvent.incident_id == self.incident_id,
                    TimelineEvent.id > self.seen_event,
                )
                .order_by(TimelineEvent.id)
            ).all()
            for event in events:
                self.seen_event = event.id
                if event.kind == EventKind.ALERT_REPEATED.value:
                    continue
                data = event.data or {}
                # A webhook a level calls is no responder who could acknowledge: not a page.
                if event.kind == EventKind.NOTIFIED.value and "level" in data and "user" in data:
                    self.pages.append(
                        drill.Page(event.at, str(data["user"]), int(data["level"]) + 1)
                    )
                line = Line(event.at - self.start, event.message, "incident")
                self.lines.append(line)
                self.show(line)

    # --- the clock ---------------------------------------------------------------------------

    def _engine_pass(self) -> datetime | None:
        due = self.engine.run_once()
        self._follow_timeline()
        return due

    def _move_to(self, at: datetime) -> None:
        if at > self.clock.now():
            self.pace(at - self.clock.now())
            self.clock.set(at)

    # --- running -----------------------------------------------------------------------------

    def run(self) -> Result:
        """Play the scenario to its end; return the record, the score card and the postmortem."""
        self._prepare()
        steps = list(self.scenario.steps)
        waiting: list[Step] = []  # steps whose responder has not been paged yet
        limit = self.start + self.scenario.length + OVERRUN
        interactive = self.commander is not None
        ask_at: datetime | None = None  # when the IC is asked again once the script's moves run out
        while True:
            due_engine = self._engine_pass()
            now = self.clock.now()
            for step in [s for s in waiting if self._ready(s)]:
                waiting.remove(step)
                self._do(step)
                self._engine_pass()
            while due := [s for s in steps if (w := self._when(s)) is not None and w <= now]:
                step = due[0]
                steps.remove(step)
                if not self._ready(step):
                    waiting.append(step)
                    continue
                if interactive and step.kind.is_decision:
                    self._ask(step)
                else:
                    self._do(step)
                self._engine_pass()
                now = self.clock.now()  # the IC's thinking moved it
            if interactive and self._resolved() is not None:
                break
            if not interactive and not steps and not waiting:
                break
            if interactive and not any(s.kind.is_decision for s in steps):
                if ask_at is None:
                    ask_at = now + 5 * WAIT
                elif ask_at <= now:
                    self._ask(None)
                    ask_at = self.clock.now() + 5 * WAIT
                    continue
            candidates = [w for s in steps if (w := self._when(s)) is not None]
            if due_engine is not None:
                candidates.append(due_engine)
            if ask_at is not None:
                candidates.append(ask_at)
            if not candidates:
                break
            upcoming = max(min(candidates), now + timedelta(seconds=1))
            if upcoming > limit:
                break
            self._move_to(upcoming)
        for step in waiting:
            self.problems.append(
                f"{step.path} ({step.kind.value} {step.who}) never happened: "
                f"nobody was paged at {step.who}"
            )
        return self._finish()

    def _when(self, step: Step) -> datetime | None:
        """Return when a step is due; None while it waits for the IC's mitigation."""
        planned = self.scenario.mitigation_at()
        if (
            self.commander is not None
            and planned is not None
            and not step.kind.is_decision
            and step.at > planned
        ):
            # Interactive: the fix lands as long after mitigation began as the script says.
            if self.mitigated_at is None:
                return None
            return self.mitigated_at + (step.at - planned)
        return self.start + step.at

    def _ready(self, step: Step) -> bool:
        level = step.level
        if level is None:
            return True
        return any(page.level == level for page in self.pages)

    def _resolved(self) -> datetime | None:
        if self.incident_id is None:
            return None
        with self.sessions() as session:
            incident = session.get(Incident, self.incident_id)
            return None if incident is None else incident.resolved_at

    # --- setting up --------------------------------------------------------------------------

    def _prepare(self) -> None:
        with self.sessions() as session, session.begin():
            service = services_store.find(session, self.scenario.service)
            if service is None:
                known = ", ".join(s.slug for s in services_store.list_(session)) or "none"
                raise InvalidInput(
                    f"scenario {self.scenario.name} drills service {self.scenario.service!r}, "
                    f"which the configuration does not define (services: {known})"
                )
            severities.scale(session).get(self.scenario.severity)
            if self.check_open:
                open_incident = session.scalar(
                    select(Incident.number)
                    .join(Incident.services)
                    .where(
                        Incident.status.in_([s.value for s in IncidentStatus if s.is_open]),
                        Incident.services.any(service_id=service.id),
                    )
                    .limit(1)
                )
                if open_incident is not None:
                    raise Conflict(
                        f"{service.slug} has an open incident ({incident_ref(open_incident)}); "
                        "a recorded drill's alerts would join it. Run the drill without --record"
                    )
            found = integrations.list_(session, service=service.slug)
            if not any(i.name == INTEGRATION for i in found):
                integrations.create(
                    session,
                    service=service.slug,
                    type="alertmanager",
                    name=INTEGRATION,
                    now=self.clock.now(),
                )
        self.say(
            f"Drill {self.scenario.name}: {self.scenario.title} "
            f"({self.scenario.severity}, service {self.scenario.service})"
        )

    def _integration(self, session: Session) -> Integration:
        service = services_store.get_by_slug(session, self.scenario.service)
        return next(
            i for i in integrations.list_(session, service=service.slug) if i.name == INTEGRATION
        )

    # --- doing steps -------------------------------------------------------------------------

    def _do(self, step: Step) -> None:
        if step.say:
            self.say(step.say)
        try:
            with self.sessions() as session, session.begin():
                self._apply(session, step)
        except TocsinError as exc:
            self.say(f"{step.path}: could not {step.kind.value}: {exc.message}")
            self.problems.append(
                f"{step.path} ({step.kind.value}) could not be done: {exc.message}"
            )

    def _apply(self, session: Session, step: Step) -> None:
        now = self.clock.now()
        if step.kind is Kind.ALERT:
            assert step.alert is not None
            self._send_alerts(session, [step.alert])
            return
        if step.kind is Kind.RESOLVE_ALERTS:
            specs = [
                drill.AlertSpec(a.labels, a.annotations, False, a.fingerprint)
                for a in self.firing.values()
            ]
            if specs:
                self._send_alerts(session, specs)
            return
        incident = self._incident(session)
        if step.kind is Kind.IGNORE:
            self.say(f"{self._who(step.who)} does not answer the page")
            return
        if step.kind is Kind.ACKNOWLEDGE:
            handle = self._who(step.who)
            outcome = incidents.acknowledge(session, incident, actor=handle, now=now)
            if self.acknowledger is None and not outcome.warnings:
                self.acknowledger = handle
            return
        if step.kind is Kind.NOTE:
            incidents.add_note(session, incident, step.message, actor=ACTOR, now=now)
            return
        actor = self._commander_handle(session, incident) or ACTOR
        if step.kind is Kind.ASSIGN:
            handle = self._who(step.who)
            current = incidents.commander_of(incident)
            if step.role == "commander" and current is not None and current.handle == handle:
                # The service's IC policy already made them commander when the alert came in.
                self.say(f"@{handle} is already the incident commander")
                return
            incidents.assign(
                session,
                incident,
                handle,
                role=step.role,
                speciality=step.speciality,
                # Someone taking command from the commander the IC policy picked is a handover.
                handover=step.role == "commander" and current is not None,
                actor=actor if actor != ACTOR else handle,
                now=now,
            )
        elif step.kind is Kind.UPDATE:
            incidents.post_update(
                session,
                incident,
                step.message,
                visibility=step.visibility,
                public_status=step.public_status,
                actor=actor,
                now=now,
            )
        elif step.kind is Kind.STATUS:
            incidents.set_status(
                session,
                incident,
                step.status,
                message=step.message or None,
                actor=actor,
                now=now,
            )
            if step.status == "mitigating" and self.mitigated_at is None:
                self.mitigated_at = now
        else:
            incidents.resolve(
                session,
                incident,
                message=step.message,
                root_cause=step.root_cause or None,
                resolution=step.resolution or None,
                actor=actor,
                now=now,
            )

    def _send_alerts(self, session: Session, specs: list[drill.AlertSpec]) -> None:
        integration = self._integration(session)
        body = {
            "version": "4",
            "status": "firing" if any(s.firing for s in specs) else "resolved",
            "receiver": "tocsin",
            "alerts": [
                {
                    "status": "firing" if spec.firing else "resolved",
                    "labels": dict(spec.labels),
                    "annotations": dict(spec.annotations),
                    "fingerprint": fingerprint(spec, self.run_id),
                    "startsAt": self.clock.now().isoformat().replace("+00:00", "Z"),
                }
                for spec in specs
            ],
        }
        events = for_integration(integration, alertmanager.parse(body))
        results = ingest(session, integration, events, now=self.clock.now())
        for spec in specs:
            key = fingerprint(spec, self.run_id)
            if spec.firing:
                self.firing[key] = spec
            else:
                self.firing.pop(key, None)
        opened = next((r.incident for r in results if r.incident), None)
        if self.incident_id is None:
            if opened is None:
                self.problems.append(
                    "The alert opened no incident (the service's alert rules, or a maintenance "
                    "window); the drill declared one by hand"
                )
                declared = incidents.declare(
                    session,
                    title=self.scenario.title,
                    severity=self.scenario.severity,
                    services=[self.scenario.service],
                    is_drill=True,
                    actor=ACTOR,
                    now=self.clock.now(),
                ).incident
            else:
                declared = incidents.get(session, opened)
            # Drills never count in the response metrics.
            declared.is_drill = True
            self.incident_id = declared.id
            self.ref = incident_ref(declared.number)
            session.flush()

    def _incident(self, session: Session) -> Incident:
        if self.incident_id is None:
            raise Conflict("no incident yet: the first alert has not fired")
        incident = session.get(Incident, self.incident_id)
        assert incident is not None
        return incident

    def _who(self, who: str) -> str:
        kind, _, value = who.partition(":")
        if kind == "user":
            return value
        if kind == "level":
            level = int(value)
            return next(p.user for p in self.pages if p.level == level)
        if self.acknowledger is not None:
            return self.acknowledger
        if self.pages:
            return self.pages[0].user
        raise Conflict("nobody has acknowledged or been paged to take the role")

    @staticmethod
    def _commander_handle(session: Session, incident: Incident) -> str | None:
        user = incidents.commander_of(incident)
        return user.handle if user else None

    # --- the interactive IC --------------------------------------------------------------------

    def _ask(self, hint: Step | None) -> None:
        assert self.commander is not None
        while True:
            with self.sessions() as session:
                incident = self._incident(session) if self.incident_id is not None else None
                situation = Situation(
                    offset=self.offset,
                    incident=self.ref or "-",
                    status=incident.status if incident else "-",
                    acknowledged_by=self.acknowledger,
                    commander=self._commander_handle(session, incident) if incident else None,
                    hint=hint,
                )
            asked = self.clock.now()
            choice = self.commander.decide(situation)
            self._move_to(asked + choice.thinking)
            self.decisions.append(drill.Decision(self.clock.now(), choice.move, asked))
            if choice.move == "wait":
                self.say("The IC waits")
                self._move_to(self.clock.now() + WAIT)
                self._engine_pass()
                continue
            self._apply_choice(choice, hint)
            self._engine_pass()
            return

    def _apply_choice(self, choice: Choice, hint: Step | None) -> None:
        script = {s.kind: s for s in self.scenario.steps if s.kind.is_decision}
        path = "interactive"
        if choice.move == "assign":
            who = f"user:{choice.who}" if choice.who else "acknowledger"
            step = Step(self.offset, Kind.ASSIGN, path, who=who)
        elif choice.move == "update":
            scripted = script.get(Kind.UPDATE)
            message = choice.message or (scripted.message if scripted else "Investigating.")
            step = Step(
                self.offset,
                Kind.UPDATE,
                path,
                message=message,
                visibility="public" if choice.public else "internal",
            )
        elif choice.move == "mitigate":
            scripted = script.get(Kind.STATUS)
            step = Step(
                self.offset,
                Kind.STATUS,
                path,
                status="mitigating",
                message=scripted.message if scripted else "",
            )
        elif choice.move == "resolve":
            scripted = script.get(Kind.RESOLVE)
            if self.firing:
                self.problems.append(
                    f"You resolved at {drill.format_offset(self.offset)} while "
                    f"{len(self.firing)} alert(s) were still firing"
                )
            step = Step(
                self.offset,
                Kind.RESOLVE,
                path,
                message=scripted.message if scripted else "Resolved.",
                root_cause=scripted.root_cause if scripted else "",
                resolution=scripted.resolution if scripted else "",
            )
        else:
            self._escalate()
            return
        self._do(step)

    def _escalate(self) -> None:
        """Page the next escalation level now, if the escalation is still running."""
        with self.sessions() as session, session.begin():
            row = session.scalar(
                select(Escalation).where(Escalation.incident_id == self.incident_id)
            )
            if row is None or row.acknowledged or row.resolved or row.next_at is None:
                self.say("Nothing to escalate: the page has been answered or the policy is spent")
                return
            row.next_at = self.clock.now()
        self.say("The IC escalates to the next level now")

    # --- the end -----------------------------------------------------------------------------

    def _finish(self) -> Result:
        self.say("Drill over", "score")
        with self.sessions() as session, session.begin():
            if self.incident_id is None:
                raise InvalidInput(f"scenario {self.scenario.name} never opened an incident")
            if self.firing:
                # Leave no drill alert open: a later drill or real alert would join it.
                self._send_alerts(
                    session,
                    [
                        drill.AlertSpec(a.labels, a.annotations, False, a.fingerprint)
                        for a in self.firing.values()
                    ],
                )
            incident = self._incident(session)
            level = severities.scale(session).get(self.scenario.severity)
            commander_at = session.scalar(
                select(IncidentRole.assigned_at)
                .where(IncidentRole.incident_id == incident.id, IncidentRole.role == "commander")
                .order_by(IncidentRole.assigned_at)
                .limit(1)
            )
            updates = tuple(
                session.scalars(
                    select(StatusUpdate.at)
                    .where(
                        StatusUpdate.incident_id == incident.id,
                        StatusUpdate.visibility == "public",
                    )
                    .order_by(StatusUpdate.at)
                )
            )
            record = drill.Record(
                detected_at=incident.detected_at,
                acknowledged_at=incident.acknowledged_at,
                acknowledged_by=self.acknowledger,
                commander_at=commander_at,
                mitigated_at=incident.mitigated_at,
                resolved_at=incident.resolved_at,
                ended_at=self.clock.now(),
                public_updates=updates,
                pages=tuple(self.pages),
                decisions=tuple(self.decisions),
                severity=incident.severity,
                problems=tuple(self.problems),
            )
            card = drill.score(record, drill.targets_for(level, self.scenario), severity=level.name)
            if IncidentStatus(incident.status).is_open:
                body = postmortems.render_draft(session, incident)
            else:
                body = postmortems.draft(
                    session, incident.number, actor=ACTOR, now=self.clock.now()
                ).body
            body = drill_postmortem(body, self.scenario, card)
            still_open = session.scalar(
                select(Alert.id)
                .where(Alert.incident_id == incident.id, Alert.status != AlertStatus.RESOLVED.value)
                .limit(1)
            )
            if still_open is not None:
                card = drill.ScoreCard(
                    card.lines, card.went_well, (*card.went_wrong, "Alerts were left firing")
                )
        self._follow_timeline()
        return Result(self.scenario, self.ref, record, card, body, self.lines)


def drill_postmortem(body: str, scenario: Scenario, card: drill.ScoreCard) -> str:
    """Return the drafted postmortem with the drill's findings in its two judgement sections."""
    well = "\n".join(f"- {item}" for item in card.went_well) or "-"
    wrong = "\n".join(f"- {item}" for item in card.went_wrong) or "-"
    body = body.replace("## What Went Well\n-\n", f"## What Went Well\n{well}\n", 1)
    body = body.replace("## What Went Wrong\n-\n", f"## What Went Wrong\n{wrong}\n", 1)
    score = "\n".join(f"    {line.text()}" for line in card.lines)
    header = (
        f"> Tabletop drill `{scenario.name}`: a rehearsal on a simulated clock, not a real "
        "incident.\n\n"
    )
    first, _, rest = body.partition("\n")
    return f"{first}\n\n{header}{rest.lstrip(chr(10))}\n## Drill Score\n{score}\n"
