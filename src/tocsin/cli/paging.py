"""`tocsin policy ...` and the paging side of incidents: who was paged, and how it went.

The store is imported where used (see `tocsin.cli.main`).
"""

from typing import Annotated

import typer

from tocsin.cli.common import App, JsonOption, out, print_json, state, table

policy_app = App(help="Escalation policies.", no_args_is_help=True)


@policy_app.command("list")
def policy_list(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """List escalation policies."""
    from tocsin.store import policies

    st = state(ctx)
    with st.session() as session:
        found = [policies.policy_json(p) for p in policies.list_policies(session)]
    if as_json:
        print_json(found)
        return
    table(
        None,
        ["Policy", "Levels", "Repeat"],
        [[p["name"], len(p["levels"]), p["repeat"]] for p in found],
    )


@policy_app.command("show")
def policy_show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The policy.")],
    as_json: bool = JsonOption,
) -> None:
    """Show a policy level by level."""
    from tocsin.store import policies

    st = state(ctx)
    with st.session() as session:
        policy = policies.policy_json(policies.get_policy(session, name))
    if as_json:
        print_json(policy)
        return
    out.print(f"{policy['name']} (repeat {policy['repeat']})", markup=False, style="bold")
    table(
        None,
        ["Level", "Targets", "Then wait"],
        [
            [i + 1, level["targets"], level.get("delay", "-")]
            for i, level in enumerate(policy["levels"])
        ],
    )


def notifications(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="The incident, like INC-42.")],
    as_json: bool = JsonOption,
) -> None:
    """List who was notified about an incident, how, and how it went."""
    from tocsin.store.notifications import notifications_json

    st = state(ctx)
    with st.session() as session:
        found = notifications_json(session, ref)
    if as_json:
        print_json(found)
        return
    table(
        None,
        ["User", "Via", "Kind", "Status", "Due", "Tries", "Sent", "Error"],
        [
            [
                n["user"]
                or (f"#{n['slack_channel']}" if n["slack_channel"] else f"webhook:{n['webhook']}"),
                n["contact_method"] or ("slack" if n["slack_channel"] else "-"),
                n["kind"],
                n["status"],
                n["due_at"],
                n["attempts"],
                n["sent_at"],
                n["last_error"],
            ]
            for n in found
        ],
    )
