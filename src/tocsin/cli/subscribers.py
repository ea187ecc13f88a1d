"""`tocsin subscriber ...`: the status page's subscribers, for administrators.

People subscribe by email on the status page themselves; webhooks are added here. Addresses are
shown masked. The services are imported where used (see `tocsin.cli.main`).
"""

from typing import Annotated

import typer

from tocsin.cli.common import App, JsonOption, out, print_json, state, success, table

subscriber_app = App(help="Manage the status page's subscribers.", no_args_is_help=True)


@subscriber_app.command("list")
def subscriber_list(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """List subscribers with masked addresses, and how many there are of each kind."""
    from tocsin.services import subscriptions

    st = state(ctx)
    with st.session() as session:
        found = subscriptions.list_(session)
    if as_json:
        print_json(
            {
                "email_confirmed": found.email_confirmed,
                "email_unconfirmed": found.email_unconfirmed,
                "webhooks": found.webhooks,
                "subscribers": [
                    {
                        "id": s.id,
                        "kind": s.kind.value,
                        "address": s.address,
                        "components": s.components,
                        "confirmed": s.confirmed,
                        "created_at": s.created_at,
                        "pending": s.pending,
                        "failed": s.failed,
                    }
                    for s in found.subscribers
                ],
            }
        )
        return
    table(
        f"{found.email_confirmed} confirmed email, {found.email_unconfirmed} awaiting "
        f"confirmation, {found.webhooks} webhook{'s' if found.webhooks != 1 else ''}",
        ["Id", "Kind", "Address", "Components", "Confirmed", "Since", "Queued", "Failed"],
        [
            [
                s.id,
                s.kind.value,
                s.address,
                s.components or "all",
                "yes" if s.confirmed else "no",
                s.created_at,
                s.pending,
                s.failed,
            ]
            for s in found.subscribers
        ],
    )


@subscriber_app.command("add-webhook")
def subscriber_add_webhook(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="The http:// or https:// URL to POST to.")],
    component: Annotated[
        list[str] | None,
        typer.Option(metavar="SLUG", help="A status component to hear of (repeat); default all."),
    ] = None,
    as_json: bool = JsonOption,
) -> None:
    """Add a webhook subscriber, active at once. Its signing secret is printed now and never
    again."""
    from tocsin.core.subscriptions import Kind, mask
    from tocsin.services import subscriptions

    st = state(ctx)
    with st.session() as session:
        added = subscriptions.add_webhook(
            session, url=url, components=component or [], now=st.now()
        )
        row = added.subscriber
        shown = mask(Kind.WEBHOOK, row.address)
        chosen = list(row.components)
        session.flush()
        subscriber_id = row.id
    if as_json:
        print_json(
            {"id": subscriber_id, "address": shown, "components": chosen, "secret": added.secret}
        )
        return
    success(
        f"Added webhook subscriber {subscriber_id} ({shown}, "
        f"{', '.join(chosen) or 'all components'}); its signing secret, not shown again:"
    )
    out.print(added.secret, markup=False)


@subscriber_app.command("remove")
def subscriber_remove(
    ctx: typer.Context,
    subscriber_id: Annotated[int, typer.Argument(metavar="ID", help="As `list` shows it.")],
) -> None:
    """Remove a subscriber (email or webhook) and the messages still queued for it."""
    from tocsin.services import subscriptions

    st = state(ctx)
    with st.session() as session:
        subscriptions.remove(session, subscriber_id)
    success(f"Removed subscriber {subscriber_id}")
