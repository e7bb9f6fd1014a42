"""The commands that run a process until stopped: serve, authz, demo, and the local identity provider
(idp, token)."""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from frontdoor.errors import FrontdoorError

if TYPE_CHECKING:
    from frontdoor.plan import Plan


def cmd_serve(args: argparse.Namespace) -> int:
    import shutil
    import tempfile

    from frontdoor.policy.admission import StageContext
    from frontdoor.proxy.server import check_servable, serve
    from frontdoor.proxy.workers import run_workers

    _gateway_logging()
    _log_build("serve", args.workers)
    directory = Path(args.directory)
    plan = check_servable(directory, args.env)  # refuse a bad contract once, before any worker starts
    _log_local_split(plan, args.workers)
    access_log = None if args.access_log == "off" else _open_log(args.access_log)
    state_dir = _state_dir(args.state_dir)
    # this run's shared scratch (the workers' metric snapshots, the reload epoch): made before the
    # workers fork so they all see it, removed when they have all stopped
    run_dir = Path(tempfile.mkdtemp(prefix="frontdoor-run-"))
    try:
        return run_workers(
            args.workers,
            lambda: serve(
                directory,
                args.env,
                access_log,
                health_interval=args.health_interval,
                reuse_port=args.workers > 1,
                context=StageContext(workers=args.workers, state_dir=state_dir),
                run_dir=run_dir,
                watch=args.watch,
            ),
        )
    finally:  # workers leave through os._exit: only the parent (or the single process) gets here
        shutil.rmtree(run_dir, ignore_errors=True)


def _state_dir(given: str | None) -> Path:
    """``--state-dir``, or the default (frontdoor/statedir.py), made if missing."""
    from frontdoor.statedir import default_state_dir

    state_dir = Path(given) if given else default_state_dir()
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FrontdoorError(f"cannot use the state directory {state_dir}: {exc.strerror or exc}") from None
    return state_dir


def _log_build(command: str, workers: int) -> None:
    """The start line: which build serves (compiled or pure Python: a slow build is never a surprise)."""
    import logging

    from frontdoor import __version__
    from frontdoor.buildinfo import build_kind

    logging.getLogger("frontdoor.gateway").info(
        "frontdoor %s %s, %s, %d worker%s", __version__, command, build_kind(), workers, "s" * (workers > 1)
    )


def _log_local_split(plan: Plan, workers: int) -> None:
    """Said once, by the parent: local rate limits are divided among the workers."""
    import logging

    from frontdoor.protection import local_split_note

    note = local_split_note(plan, workers)
    if note is not None:
        logging.getLogger("frontdoor.protection").warning("%s", note)


def cmd_authz(args: argparse.Namespace) -> int:
    import shutil
    import tempfile

    from frontdoor.authz.decide import LOOPBACK, chosen_entrypoints, parse_networks
    from frontdoor.authz.runtime import Settings
    from frontdoor.authz.service import run_authz
    from frontdoor.contract.values import parse_listen
    from frontdoor.policy.admission import StageContext
    from frontdoor.proxy.server import check_servable
    from frontdoor.proxy.workers import run_workers

    try:
        settings = Settings(
            listen=parse_listen(args.listen),
            dialect=args.dialect,
            path_prefix=args.path_prefix or "",
            trusted=parse_networks(args.trusted) if args.trusted else LOOPBACK,
            entrypoint=args.entrypoint,
            admin_listen=parse_listen(args.admin_listen) if args.admin_listen else None,
        )
    except ValueError as exc:
        raise FrontdoorError(str(exc)) from None
    _gateway_logging()
    _log_build("authz", args.workers)
    directory = Path(args.directory)
    plan = check_servable(directory, args.env)  # refuse a bad contract once, before any worker starts
    try:
        chosen_entrypoints(plan, settings.entrypoint, settings.path_prefix)
    except ValueError as exc:
        raise FrontdoorError(str(exc)) from None
    _log_local_split(plan, args.workers)
    access_log = None if args.access_log == "off" else _open_log(args.access_log)
    state_dir = _state_dir(args.state_dir)
    # the workers' shared scratch (metric snapshots, the reload epoch), as for serve
    run_dir = Path(tempfile.mkdtemp(prefix="frontdoor-authz-"))
    try:
        return run_workers(
            args.workers,
            lambda: run_authz(
                directory,
                args.env,
                settings,
                access_log,
                reuse_port=args.workers > 1,
                context=StageContext(workers=args.workers, state_dir=state_dir),
                run_dir=run_dir,
            ),
        )
    finally:  # workers leave through os._exit: only the parent (or the single process) gets here
        shutil.rmtree(run_dir, ignore_errors=True)


def cmd_demo(args: argparse.Namespace) -> int:
    from frontdoor.demo.run import run_demo

    _gateway_logging()
    _log_build("demo", 1)
    return run_demo(
        Path(args.directory),
        args.env,
        None if args.access_log == "off" else _open_log(args.access_log),
        port_base=args.port_base,
    )


def cmd_token(args: argparse.Namespace) -> int:
    from frontdoor.contract.values import parse_duration
    from frontdoor.idp.running import running_issuer
    from frontdoor.idp.tokens import DEFAULT_AUDIENCE, DEFAULT_ISSUER, mint, parse_claims

    try:
        ttl = parse_duration(args.ttl)
        claims = parse_claims(args.claim)
    except ValueError as exc:
        raise FrontdoorError(str(exc)) from None
    scopes = [scope for text in args.scope for scope in text.split()]
    # the running demo's (or idp's) issuer and audience, unless given: its printed commands then work
    # whatever port it runs on
    running = running_issuer()
    issuer = args.issuer or (running.issuer if running else DEFAULT_ISSUER)
    audiences = args.aud or (
        list(running.audiences[:1]) if running and running.issuer == issuer and running.audiences else []
    )
    print(
        mint(
            args.sub,
            scopes,
            claims,
            ttl,
            audiences or [DEFAULT_AUDIENCE],
            args.alg,
            issuer,
            args.scopes_claim,
        )
    )
    return 0


def cmd_idp(args: argparse.Namespace) -> int:
    import asyncio

    from frontdoor.contract.values import parse_listen
    from frontdoor.idp.issuer import start_issuer
    from frontdoor.idp.running import announce, withdraw
    from frontdoor.idp.signin import Desk
    from frontdoor.idp.tokens import DEFAULT_AUDIENCE, parse_claims

    try:
        listen = parse_listen(args.listen)
        claims = parse_claims(args.claim)
    except ValueError as exc:
        raise FrontdoorError(str(exc)) from None
    issuer = args.issuer or f"http://{listen}/"
    desk = Desk(issuer, tuple(args.aud or [DEFAULT_AUDIENCE]), claims, tuple(args.scope))

    async def main() -> None:
        server = await start_issuer(issuer, listen.host, listen.port, desk=desk)
        announce(issuer, args.aud or [DEFAULT_AUDIENCE])  # frontdoor token signs for it by itself
        where = f"local identity provider {issuer} on {listen}"
        print(f"{where} (discovery, /keys, sign-in at /authorize)", file=sys.stderr)
        async with server:
            await server.serve_forever()

    try:
        asyncio.run(main())
    except OSError as exc:
        raise FrontdoorError(f"cannot listen on {listen}: {exc.strerror or exc}") from None
    finally:
        withdraw(issuer)
    return 0


def _gateway_logging() -> None:
    import logging

    gc.unfreeze()
    gc.set_threshold(700, 10, 10)  # until the gateway is up; then it freezes what it built (server.py)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _open_log(target: str) -> TextIO:
    if target == "-":
        return sys.stdout
    return open(target, "a", encoding="utf-8", buffering=1)
