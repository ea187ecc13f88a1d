"""`tocsin user contact ...`: one person's contact methods, added, tested and removed one by one.

`tocsin apply` sets them all at once from the config file; these are for the day someone gets
a new phone.
"""

import time
from typing import Annotated

import typer

from tocsin.cli.common import App, JsonOption, out, print_json, state, success, table

contact_app = App(help="Manage a user's contact methods.", no_args_is_help=True)

Handle = Annotated[str, typer.Argument(help="Whose contact methods, like alice.")]
Name = Annotated[str, typer.Argument(help="The method's name among theirs, like phone.")]


@contact_app.command("list")
def contact_list(ctx: typer.Context, handle: Handle, as_json: bool = JsonOption) -> None:
    """List a user's contact methods, when each pages, and how its last test went."""
    from tocsin.schemas import ContactMethodOut
    from tocsin.services import contacts

    st = state(ctx)
    with st.session() as session:
        found = [
            ContactMethodOut.of(c.method, c.after, str(c.last_test) if c.last_test else None)
            for c in contacts.list_(session, handle)
        ]
    if as_json:
        print_json(found)
        return
    table(
        None,
        ["Name", "Type", "Target", "Pages after", "Last test"],
        [[m.name, m.type, m.target, ", ".join(m.after) or "-", m.last_test or "-"] for m in found],
    )


@contact_app.command("add")
def contact_add(
    ctx: typer.Context,
    handle: Handle,
    name: Name,
    type_: Annotated[
        str,
        typer.Option(
            "--type", help="email, slack, webhook, sms, voice, teams, telegram or console."
        ),
    ],
    to: Annotated[
        str,
        typer.Option(help="The address, E.164 number (+4915112345678), chat id or URL."),
    ] = "",
    after: Annotated[
        str, typer.Option(help="Page through it this long after a page starts: 0m, 5m.")
    ] = "0m",
    no_rule: Annotated[
        bool, typer.Option("--no-rule", help="Add it without a notification rule.")
    ] = False,
) -> None:
    """Add a contact method, paging through it `--after` a page starts."""
    from tocsin.services import contacts

    st = state(ctx)
    with st.session() as session:
        contacts.add(
            session,
            handle,
            name=name,
            type=type_,
            target=to,
            after=None if no_rule else after,
            now=st.now(),
        )
    when = "without a rule" if no_rule else f"paging {after} after a page starts"
    success(f"Added {handle}'s {type_} method {name!r}, {when}")


@contact_app.command("remove")
def contact_remove(ctx: typer.Context, handle: Handle, name: Name) -> None:
    """Remove a contact method and its notification rules."""
    from tocsin.services import contacts

    st = state(ctx)
    with st.session() as session:
        contacts.remove(session, handle, name)
    success(f"Removed {handle}'s contact method {name!r}")


@contact_app.command("test")
def contact_test(
    ctx: typer.Context,
    handle: Handle,
    name: Name,
    wait: Annotated[
        float, typer.Option(help="Seconds to wait for the outcome; 0 only queues it.")
    ] = 30.0,
) -> None:
    """Send a test message through a contact method and say how it went.

    The outbox of a running `tocsin serve` (or `tocsin engine`) sends it.
    """
    from tocsin.errors import TocsinError
    from tocsin.services import contacts

    st = state(ctx)
    with st.session() as session:
        test = contacts.test(session, handle, name, now=st.now())
    deadline = time.monotonic() + max(0.0, wait)
    while True:
        with st.session() as session:
            result = contacts.test_result(session, handle, test)
        if result.done or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    if result.status == "sent":
        success(f"Test message to {handle}'s {name!r} sent ({result.detail or 'accepted'})")
    elif result.status == "failed":
        raise TocsinError(f"the test message to {handle}'s {name!r} failed: {result.detail}")
    elif wait > 0:
        raise TocsinError(
            f"the test message to {handle}'s {name!r} is still {result.status} after"
            f" {wait:g} s: is `tocsin serve` (or `tocsin engine`) running?"
        )
    else:
        out.print(f"Queued test message {test}; `tocsin user contact list {handle}` shows it.")


@contact_app.command("link")
def contact_link(
    ctx: typer.Context,
    handle: Handle,
    chat: Annotated[str, typer.Argument(help="The chat app: telegram or slack.")] = "telegram",
) -> None:
    """Print a one-time code that links the user's chat account (valid 15 minutes)."""
    from tocsin.errors import InvalidInput
    from tocsin.services import contacts

    if chat not in ("telegram", "slack"):
        raise InvalidInput(f"unknown chat app {chat!r}; valid: telegram, slack")
    st = state(ctx)
    with st.session() as session:
        code = contacts.link_code(session, handle, chat, now=st.now())
    if chat == "slack":
        out.print(f"Run this in Slack within 15 minutes, as {handle}: /tocsin link {code}")
        return
    bot = st.settings.telegram_bot_name
    where = f"https://t.me/{bot}?start={code}" if bot else f"the bot: /start {code}"
    out.print(f"Send this within 15 minutes from {handle}'s Telegram: {where}")
