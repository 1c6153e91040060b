"""Serve GraphiQL from the shop's own static files instead of a CDN.

usage: .venv/bin/python scripts/vendor_graphiql.py

Takes strawberry's GraphiQL page, fetches each file it loads from unpkg out of its npm
package (``npm pack``, so only the npm registry is needed), checks it against the
page's own subresource-integrity hash, copies it to shop/core/static/graphiql/ and
writes shop/templates/graphql/graphiql.html (which strawberry's view renders instead
of its built-in page) pointing at those copies. Run it again after upgrading
strawberry-graphql; the result is committed.
"""

import base64
import hashlib
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import strawberry

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "shop" / "core" / "static" / "graphiql"
TEMPLATE = ROOT / "shop" / "templates" / "graphql" / "graphiql.html"
SOURCE = Path(strawberry.__file__).parent / "static" / "graphiql.html"
TAG = re.compile(
    r'(?P<attr>src|href)="https://unpkg\.com/(?P<package>@?[^@"]+)@(?P<version>[^/"]+)'
    r'/(?P<path>[^"]+)"\s+integrity="(?P<integrity>sha384-[^"]+)"'
)


def sri(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def main() -> int:
    page = SOURCE.read_text()
    STATIC.mkdir(parents=True, exist_ok=True)
    TEMPLATE.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:

        def vendor(match: re.Match) -> str:
            package, version, path = match["package"], match["version"], match["path"]
            spec = f"{package}@{version}"
            tarball = subprocess.run(
                ["npm", "pack", "--silent", spec],
                cwd=tmp,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()[-1]
            with tarfile.open(Path(tmp) / tarball) as archive:
                data = archive.extractfile(f"package/{path}").read()
            if sri(data) != match["integrity"]:
                raise SystemExit(f"{spec}/{path}: integrity mismatch")
            name = f"{package.replace('@', '').replace('/', '-')}-{version}-"
            name += Path(path).name
            (STATIC / name).write_bytes(data)
            print(f"{spec}/{path} -> graphiql/{name}")
            return (
                f"{match['attr']}=\"{{% static 'graphiql/{name}' %}}\"\n"
                f'      integrity="{match["integrity"]}"'
            )

        page, count = TAG.subn(vendor, page)
    if count != 7 or "unpkg.com" in page:
        print(f"expected 7 CDN files, replaced {count}", file=sys.stderr)
        return 1
    TEMPLATE.write_text(
        "{% load static %}{# Written by scripts/vendor_graphiql.py #}\n" + page
    )
    return 0


if __name__ == "__main__":
    if not shutil.which("npm"):
        raise SystemExit("npm is needed (it fetches the packages from the registry)")
    sys.exit(main())
