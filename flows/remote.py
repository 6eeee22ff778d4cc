"""Set up the project's shared DVC remote on any S3-compatible store, in one command.

    python -m flows.remote s3://BUCKET/PATH --endpoint URL [--key ID --secret SECRET] [--name N]

The remote's URL and endpoint go in .dvc/config (committed: the team shares them); the
credentials go in .dvc/config.local (git-ignored), or come from the usual AWS variables.
`make remote URL=... ENDPOINT=... KEY=... SECRET=...` runs this.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from flows.dvc import DvcError, dvc


def configure(root: Path, url: str, endpoint: str | None, key: str | None, secret: str | None,
              name: str = "storage") -> None:
    """Make `url` the default remote `name` of the project at `root`."""
    dvc(root, "remote", "add", "--project", "--default", "--force", name, url)
    if endpoint:
        dvc(root, "remote", "modify", "--project", name, "endpointurl", endpoint)
    for option, value in (("access_key_id", key), ("secret_access_key", secret)):
        if value:
            dvc(root, "remote", "modify", "--local", name, option, value)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and configure the remote."""
    parser = argparse.ArgumentParser(prog="python -m flows.remote", description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="s3://bucket/path")
    parser.add_argument("--endpoint", help="the store's URL, e.g. http://127.0.0.1:9000 (not for AWS)")
    parser.add_argument("--key", help="access key id (kept in .dvc/config.local, never committed)")
    parser.add_argument("--secret", help="secret access key (kept in .dvc/config.local)")
    parser.add_argument("--name", default="storage", help="remote name (default: storage)")
    parser.add_argument("--root", type=Path, default=Path("."), help="project root (default: .)")
    args = parser.parse_args(argv)
    if not args.url.startswith("s3://"):
        parser.exit(2, f"error: {args.url!r}: an S3-compatible remote's URL starts with s3://\n")
    try:
        configure(args.root, args.url, args.endpoint, args.key, args.secret, args.name)
    except DvcError as err:
        parser.exit(1, f"error: {err}\n")
    print(f"remote {args.name!r} -> {args.url}: commit .dvc/config; `dvc push` uploads, `dvc pull` fetches")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
