"""`capibara6 serve <name>`: start one service with the shared kit."""

from __future__ import annotations

import argparse
import importlib
import sys

from capibara6 import __version__
from capibara6.kit import logs
from capibara6.kit.services import DESCRIPTIONS, SERVICES
from capibara6.kit.settings import ConfigError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="capibara6", description="Capibara6 backend services")
    parser.add_argument("--version", action="version", version=f"capibara6 {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    listing = "\n".join(f"  {name:<10} port {port}: {DESCRIPTIONS[name]}"
                        for name, port in SERVICES.items())
    serve = commands.add_parser(
        "serve", help="serve one service with waitress",
        description="Serve one Capibara6 service.\n\nservices:\n" + listing,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    serve.add_argument("service", choices=sorted(SERVICES), metavar="service",
                       help="one of: " + ", ".join(SERVICES))
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to bind when systemd passes no socket (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None,
                       help="port to bind when systemd passes no socket (default: the service's fixed port)")
    serve.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    docs = commands.add_parser(
        "docs", help="write docs/ (OpenAPI documents, API pages, settings) from the code",
        description="Generate docs/ from the routes' models and the settings the code reads.")
    docs.add_argument("--dir", default="docs", help="where to write (default ./docs)")
    docs.add_argument("--check", action="store_true",
                      help="write nothing; exit 1 naming each file that differs from the code")
    return parser


def load_service(name: str):
    """The service's app and runtime, built from the environment (ConfigError on bad settings)."""
    module = importlib.import_module(f"capibara6.{name}")
    return module.create_app()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "docs":
        return _docs(args)
    logs.configure(args.log_level)
    from capibara6.kit.app import runtime_of
    from capibara6.kit.serve import serve
    try:
        app = load_service(args.service)
    except ConfigError as error:
        print(f"capibara6 {args.service}: configuration error: {error}", file=sys.stderr)
        return 2
    settings = app.extensions["capibara6.settings"]
    port = args.port if args.port is not None else SERVICES[args.service]
    return serve(app, runtime_of(app), host=args.host, port=port, threads=settings.threads,
                 connection_limit=settings.connection_limit,
                 max_body_bytes=settings.max_body_bytes, trusted_proxy=settings.trusted_proxy)


def _docs(args) -> int:
    from pathlib import Path

    from capibara6.docs import write_or_check
    differing = write_or_check(Path(args.dir), check=args.check)
    for path in differing:
        print(f"{path}: {'differs from what the code generates' if args.check else 'written'}")
    if args.check and differing:
        print("run `make docs` (capibara6 docs) and commit docs/", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
