"""`triage`: a whole ticket on stdin -> the users and keys it is about, what its errors mean, and the
reply for the suggested key's latest result. Audited like the page: one `ticket.triage` row, one
`key.view` per key shown and one `user.view` per matched user without keys."""

from __future__ import annotations

import argparse
import sys

from sqlalchemy.orm import Session

from nbsupport import audit
from nbsupport.audit import Action
from nbsupport.cli.common import CliError, Subparsers, cli_actor, open_console, print_json
from nbsupport.clock import utc_text
from nbsupport.triage import Triage, triage


def register(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(
        "triage",
        help="read a whole ticket on stdin: matched users and keys, explained errors, drafted reply",
        description="Reads a pasted ticket (customer text, log lines, key fragments) from stdin and looks up "
                    "every email, user id, key id and key fragment in it. Tests nothing. Exit code 0 when a "
                    "user or key matched, 1 when none did.",
    )
    p.add_argument("--exchange", metavar="ID", help="explain the errors for this ccxt exchange")
    p.add_argument("--ticket", default="", help="support ticket this triage belongs to (audited)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=run_triage)


def run_triage(args: argparse.Namespace) -> int:
    if sys.stdin.isatty():
        print("paste the ticket, then Ctrl-D", file=sys.stderr)
    text = sys.stdin.read()
    if not text.strip():
        raise CliError("the ticket on stdin is empty")
    console = open_console()
    with console.session() as session:
        result = triage(session, text, exchange=args.exchange)
        _audit(session, result, args.ticket)
    if args.json:
        print_json(result.as_dict())
    else:
        _print(result)
    return 0 if result.users or result.keys else 1


def _audit(session: Session, result: Triage, ticket: str) -> None:
    actor = cli_actor()
    outcome, detail = result.audit_summary()
    audit.record(session, actor, Action.TICKET_TRIAGE, ticket=ticket, result=outcome, detail=detail)
    for user_id, key_id in result.subjects():
        action = Action.KEY_VIEW if key_id is not None else Action.USER_VIEW
        audit.record(session, actor, action, ticket=ticket, subject_user_id=user_id, subject_key_id=key_id,
                     result="triage")


def _print(result: Triage) -> None:
    facts = result.facts
    print(f"found: {len(facts.emails)} email(s), {len(facts.user_ids)} user id(s), {len(facts.key_ids)} key "
          f"id(s), {len(facts.key_fragments)} key fragment(s), venues {', '.join(facts.venues) or '-'}, "
          f"tickets {', '.join(facts.ticket_refs) or '-'}")
    for label in result.not_found:
        print(f"no match: {label}")
    for user in result.users:
        print(f"user {user.card.id}  {user.card.email}  ({'; '.join(user.reasons)})")
    for key in result.keys:
        v = key.view
        print(f"  key {v.id}  user {v.user_id}  {v.exchange}/{v.product}  {v.masked_key}  "
              f"last={v.last_outcome or '-'}:{v.last_diagnosis or '-'}  ({'; '.join(key.reasons)})")
    if result.suggested is not None:
        key_id = result.suggested.view.id
        print(f"\nsuggested key: {key_id} (re-test with `retest {key_id}`)")
    for line in facts.error_lines:
        print(f"\nline {line.line}: {line.text}")
        for number, match in enumerate(line.matches, start=1):
            mark = "  <- latest test" if result.confirmed(match) else ""
            print(f"  {number}. {match.row.fix_id} ({match.row.diagnosis.value}) {match.row.title}{mark}")
    if result.latest is not None and result.reply is not None:
        latest = result.latest.result
        print(f"\nreply for the latest test ({latest.outcome}:{latest.diagnosis}, "
              f"{utc_text(latest.started_at)}):")
        for text in result.reply.customer_reply.splitlines():
            print(f"  {text}" if text else "")
