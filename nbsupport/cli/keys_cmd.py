"""`init-db`, `keys add`, `lookup`: storing keys and finding them again."""

from __future__ import annotations

import argparse
import sys

from nbsupport import audit
from nbsupport.audit import Action
from nbsupport.cli.common import CliError, Subparsers, cli_actor, open_console, parse_day, print_json
from nbsupport.credentials import Credentials
from nbsupport.keys import add_key, third_credential_name
from nbsupport.lookup import HELP, lookup


def _init_db(args: argparse.Namespace) -> int:
    console = open_console()
    console.migrate()
    print("database is at the latest schema")
    return 0


def _read_credentials(exchange: str) -> Credentials:
    """API key, secret and an optional third value, one per line on stdin (argv would leak to `ps`)."""
    if sys.stdin.isatty():
        print("paste the API key, the secret and (if the venue issues one) the passphrase/uid, "
              "one per line, then Ctrl-D", file=sys.stderr)
    lines = [line.rstrip("\r\n") for line in sys.stdin.read().splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    if len(lines) < 2:
        raise CliError("expected the API key and the secret on stdin, one per line")
    if len(lines) > 3:
        raise CliError("expected at most three lines on stdin: API key, secret, passphrase/uid")
    third = lines[2] if len(lines) == 3 else None
    name = third_credential_name(exchange) if third is not None else None
    if third is not None and name is None:
        raise CliError(f"{exchange} issues no passphrase or uid; give only the API key and the secret")
    password, uid = (third if name == "password" else None), (third if name == "uid" else None)
    return Credentials(lines[0], lines[1], password=password, uid=uid)


def _keys_add(args: argparse.Namespace) -> int:
    expires = parse_day(args.expires) if args.expires else None
    console = open_console()
    keyring = console.keyring()
    credentials = _read_credentials(args.exchange)
    with console.session() as session:
        row = add_key(session, keyring, user_email=args.user, exchange=args.exchange, credentials=credentials,
                      label=args.label, product=args.product, ip_whitelist=args.ip_whitelist or [],
                      expires_at=expires)
        audit.record(session, cli_actor(), Action.KEY_ADD, subject_user_id=row.user_id, subject_key_id=row.id,
                     result="stored")
        payload = {"key_id": row.id, "user_id": row.user_id, "exchange": row.exchange, "product": row.product,
                   "masked_key": f"{row.key_prefix}…{row.key_suffix}", "fingerprint": row.fingerprint[:16]}
    del credentials
    if args.json:
        print_json(payload)
    else:
        print(f"stored key {payload['key_id']} ({payload['exchange']} {payload['masked_key']}) "
              f"for user {payload['user_id']}")
    return 0


def _lookup(args: argparse.Namespace) -> int:
    console = open_console()
    with console.session() as session:
        result = lookup(session, args.query)
        for key in result.keys:
            audit.record(session, cli_actor(), Action.KEY_VIEW, subject_user_id=key.user_id,
                         subject_key_id=key.id, result="lookup")
    if args.json:
        print_json(result.as_dict())
        return 0
    if not result.users:
        print("no user or key matches that search")
        return 1
    for user in result.users:
        print(f"user {user.id}  {user.email}  strategy={user.strategy or '-'}  "
              f"envelope={user.envelope_version}")
        for k in (k for k in result.keys if k.user_id == user.id):
            print(f"  key {k.id}  {k.exchange}/{k.product}  {k.masked_key}  fp={k.fingerprint}  "
                  f"last={k.last_outcome or '-'}:{k.last_diagnosis or '-'}  label={k.label!r}")
    return 0


def register(sub: Subparsers) -> None:
    p = sub.add_parser("init-db", help="create or migrate the database schema to the latest version")
    p.set_defaults(handler=_init_db)

    keys = sub.add_parser("keys", help="manage stored exchange keys")
    keys_sub = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    p = keys_sub.add_parser(
        "add", help="store a key (credentials are read from stdin, one per line, never from arguments)",
        description="Reads the API key, the secret and an optional passphrase/uid from stdin, one per line, "
                    "seals them with the user's envelope key and stores masked metadata.")
    p.add_argument("--user", required=True, help="the user's email (created if unknown)")
    p.add_argument("--exchange", required=True, help="ccxt exchange id, e.g. kraken, krakenfutures, binance")
    p.add_argument("--label", default="", help="free text shown to support, e.g. kraken-spot")
    p.add_argument("--product", default=None, help="spot | futures (default: from the exchange id)")
    p.add_argument("--ip-whitelist", nargs="*", metavar="IP",
                   help="addresses the user whitelisted on the key")
    p.add_argument("--expires", metavar="YYYY-MM-DD", help="the key's expiry date as set on the exchange")
    p.add_argument("--json", action="store_true", help="print {\"key_id\": N, ...}")
    p.set_defaults(handler=_keys_add)

    p = sub.add_parser("lookup", help="find a user and their keys (masked metadata only)", description=HELP)
    p.add_argument("query", help="email, user id, key:ID, ticket link, abcd…wxyz, key fragment, fingerprint")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=_lookup)
