"""`tocsin import ...`: move in from another paging tool, in one file `tocsin apply` takes.

Everything is read first; only then are the files written, so a refused token, a missing
permission or an answer in the wrong shape leaves nothing behind.
"""

import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from tocsin.cli.common import App, err, out, state, success, warn
from tocsin.errors import InvalidInput

import_app = App(
    help="Move in from another paging tool: its people, schedules, policies and services.",
    no_args_is_help=True,
)

Output = Annotated[
    Path, typer.Option("--output", "-o", metavar="FILE", help="The tocsin.yaml to write.")
]
FromDir = Annotated[
    Path | None,
    typer.Option(
        "--from-dir",
        metavar="DIR",
        help="Read the API's answers saved as files (users.json, schedules/ID.json...) "
        "instead of the API.",
    ),
]
Token = Annotated[
    str | None,
    typer.Option(
        envvar="TOCSIN_IMPORT_TOKEN",
        help="A read-only API token (or set TOCSIN_IMPORT_TOKEN, which keeps it out of the "
        "shell's history).",
    ),
]
KeepKeys = Annotated[
    bool,
    typer.Option(
        "--keep-keys",
        help="Keep the integration keys senders use, in a separate keys file (mode 600), "
        "so each sender changes only its URL.",
    ),
]
KeysOut = Annotated[
    Path | None,
    typer.Option(
        "--keys-out", metavar="FILE", help="Where --keep-keys writes (default: FILE.keys.yaml)."
    ),
]
Report = Annotated[
    Path | None,
    typer.Option("--report", metavar="FILE.md", help="Write the whole migration report here."),
]
Force = Annotated[bool, typer.Option("--force", help="Overwrite files that exist.")]
Verify = Annotated[
    bool,
    typer.Option(
        "--verify",
        help="Compare each schedule with the source's own rendering of its next 8 weeks, "
        "instant by instant, and list every difference (exit 1 if there is one).",
    ),
]


@import_app.command("pagerduty")
def import_pagerduty(
    ctx: typer.Context,
    output: Output,
    api_url: Annotated[
        str, typer.Option(help="PagerDuty's REST API.")
    ] = "https://api.pagerduty.com",
    token: Token = None,
    from_dir: FromDir = None,
    keep_keys: KeepKeys = False,
    keys_out: KeysOut = None,
    report: Report = None,
    force: Force = False,
    verify: Verify = False,
) -> None:
    """Import users, teams, schedules, escalation policies and services from PagerDuty."""
    from tocsin.core.migrate import pagerduty as mapping
    from tocsin.importing import pagerduty as source

    _run(
        ctx,
        mapping,
        source,
        "PagerDuty",
        api_url,
        token,
        from_dir,
        output,
        keep_keys=keep_keys,
        keys_out=keys_out,
        report=report,
        force=force,
        verify=verify,
    )


@import_app.command("opsgenie")
def import_opsgenie(
    ctx: typer.Context,
    output: Output,
    api_url: Annotated[
        str, typer.Option(help="Opsgenie's REST API (https://api.eu.opsgenie.com in the EU).")
    ] = "https://api.opsgenie.com",
    token: Token = None,
    from_dir: FromDir = None,
    keep_keys: KeepKeys = False,
    keys_out: KeysOut = None,
    report: Report = None,
    force: Force = False,
    verify: Verify = False,
) -> None:
    """Import users, teams, schedules, escalations, integrations and heartbeats from Opsgenie."""
    from tocsin.core.migrate import opsgenie as mapping
    from tocsin.importing import opsgenie as source

    _run(
        ctx,
        mapping,
        source,
        "Opsgenie",
        api_url,
        token,
        from_dir,
        output,
        keep_keys=keep_keys,
        keys_out=keys_out,
        report=report,
        force=force,
        verify=verify,
    )


@import_app.command("grafana-oncall")
def import_grafana_oncall(
    ctx: typer.Context,
    output: Output,
    api_url: Annotated[
        str | None,
        typer.Option(help="Your Grafana OnCall's API, like https://oncall.example.com."),
    ] = None,
    token: Token = None,
    from_dir: FromDir = None,
    keep_keys: KeepKeys = False,
    keys_out: KeysOut = None,
    report: Report = None,
    force: Force = False,
    verify: Verify = False,
) -> None:
    """Import users, teams, schedules, escalation chains and integrations from Grafana OnCall."""
    from tocsin.core.migrate import grafana as mapping
    from tocsin.importing import grafana as source

    if from_dir is None and not api_url:
        raise InvalidInput("give --api-url (your Grafana OnCall's address) or --from-dir")
    _run(
        ctx,
        mapping,
        source,
        "Grafana OnCall",
        api_url or "",
        token,
        from_dir,
        output,
        keep_keys=keep_keys,
        keys_out=keys_out,
        report=report,
        force=force,
        verify=verify,
    )


def _run(
    ctx: typer.Context,
    mapping: Any,
    source: Any,
    name: str,
    api_url: str,
    token: str | None,
    from_dir: Path | None,
    output: Path,
    *,
    keep_keys: bool,
    keys_out: Path | None,
    report: Path | None,
    force: bool,
    verify: bool,
) -> None:
    """Read a source, map it, check its schedules if asked, and write the files: the same
    steps for every source, which differs only in its reader (`source`) and its `mapping`."""
    now = state(ctx).now().astimezone(UTC)
    keys_file = keys_out or output.with_name(output.stem + ".keys.yaml")
    _check_targets(
        [output, *([keys_file] if keep_keys else []), *([report] if report else [])], force
    )
    data = _read(source, name, api_url, token, from_dir, now)
    migration = _convert(mapping, data, name, now=now, keep_keys=keep_keys)
    compared = mapping.check(migration, data, now, now + source.VERIFY_AHEAD) if verify else 0
    _write(migration, output, keys_file if keep_keys else None, report, now)
    if verify:
        _verdict(migration.checks, compared, name)


def _read(
    source: Any, name: str, api_url: str, token: str | None, from_dir: Path | None, now: datetime
) -> dict[str, Any]:
    """Read everything first, from the folder or the API: nothing is written before."""
    from tocsin.importing import Api, Folder

    selectors = getattr(source, "SELECTORS", ())
    if from_dir is not None:
        return source.fetch(Folder(from_dir, selectors), now=now)  # type: ignore[no-any-return]
    if not token:
        raise InvalidInput(f"give --token (a read-only {name} API key) or --from-dir")
    with _Reading() as reading:
        api = Api(
            api_url,
            source.headers(token),
            name=name,
            numbered=getattr(source, "NUMBERED", False),
            progress=reading.show,
        )
        try:
            return source.fetch(api, now=now)  # type: ignore[no-any-return]
        finally:
            api.close()


def _verdict(differences: list[str], compared: int, source: str) -> None:
    """Print the schedule check; a difference ends the command with exit status 1."""
    for line in differences:
        out.print(f"differs  {line}", markup=False)
    if not compared:
        warn([f"{source} rendered no schedule to compare with"])
    elif differences:
        raise typer.Exit(1)
    else:
        success(f"{compared} schedule(s) match {source}'s rendering at every instant")


class _Reading:
    """Show which endpoint is being read, on a terminal; nothing when stderr is a pipe."""

    def __init__(self) -> None:
        self._status = err.status("Reading…") if sys.stderr.isatty() else None

    def __enter__(self) -> "_Reading":
        if self._status is not None:
            self._status.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.__exit__(None, None, None)

    def show(self, path: str) -> None:
        if self._status is not None:
            self._status.update(f"Reading {path}")


def _check_targets(paths: list[Path], force: bool) -> None:
    existing = [str(p) for p in paths if p.exists()]
    if existing and not force:
        raise InvalidInput(f"{', '.join(existing)}: exists already; --force overwrites it")
    missing = sorted({str(p.parent) for p in paths if not p.parent.is_dir()})
    if missing:
        raise InvalidInput(f"{', '.join(missing)}: no such folder to write into")


def _convert(mapping: Any, data: dict[str, Any], name: str, **options: Any) -> Any:
    """Map the source's answers; an answer not in its documented shape is one line, not a
    traceback (the mapping names the object where it can)."""
    try:
        return mapping.convert(data, **options)
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
        raise InvalidInput(
            f"{name} answered something not in its documented shape ({type(exc).__name__}:"
            f" {str(exc)[:200]}); nothing was written"
        ) from None


def _write(
    migration: Any, output: Path, keys_file: Path | None, report: Path | None, now: datetime
) -> None:
    """Write the config, the keys and the report, each whole or not at all: every file is
    written beside its place first, then all are moved into place."""
    from tocsin import config
    from tocsin.services.config_export import dump

    header = (
        f"# Imported from {migration.source} on {now:%Y-%m-%d %H:%M} UTC by `tocsin import`.\n"
        "# Read the migration report before applying: it says what changed on the way.\n"
    )
    text = dump(migration.config, header=header)
    config.parse(text, str(output))  # what `tocsin apply` will read: refuse to write less
    files: list[tuple[Path, str, int]] = [(output, text, 0o644)]
    written = [str(output)]
    if keys_file is not None:
        body = dump(
            {"integrations": dict(sorted(migration.keys.items()))},
            header="# Integration keys senders already use. Keep this file secret; never commit"
            " it.\n",
        )
        files.append((keys_file, body, 0o600))
        written.append(f"{keys_file} ({len(migration.keys)} keys, mode 600)")
    if report is not None:
        files.append((report, migration.markdown(), 0o644))
        written.append(str(report))
    staged: list[tuple[Path, Path]] = []
    try:
        for target, content, mode in files:
            temporary = target.with_name(f".{target.name}.importing")
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            os.fchmod(descriptor, mode)  # the keys are never readable by others, even briefly
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                file.write(content)
            staged.append((temporary, target))
    except OSError as exc:
        for temporary, _target in staged:
            temporary.unlink(missing_ok=True)
        raise InvalidInput(
            f"cannot write {exc.filename}: {exc.strerror}; nothing was written"
        ) from None
    for temporary, target in staged:
        os.replace(temporary, target)
    counts = migration.counts()
    for line in migration.report:
        if line.outcome != "imported":
            out.print(f"{line.outcome:8} {line.kind} {line.name}: {line.why}", markup=False)
    success(
        f"{counts['imported']} imported, {counts['changed']} changed, {counts['skipped']} skipped;"
        f" wrote {', '.join(written)}"
    )
    apply = f"tocsin apply -f {output}" + (f" --keys {keys_file}" if keys_file else "")
    warn(
        []
        if counts["skipped"] == 0
        else [f"{counts['skipped']} object(s) were not imported: see above"]
    )
    success(f"Next: {apply} --dry-run, then without --dry-run")
