"""Fetch the UI's front-end libraries into ``src/spine/web/static/vendor/``.

The pins live in ``src/spine/web/static/vendor/assets.json``: per npm package, its exact
version, the registry's tarball URL and the tarball's ``integrity`` (sha512, as the
registry publishes it), and per file taken from the tarball its sha256. This script
downloads each tarball, refuses it unless its sha512 matches, extracts the listed files
and refuses any whose sha256 differs from the pin. The fetched files are committed, so a
clean clone (and the wheel) works offline; ``tests/web/test_assets.py`` checks the
committed files against the pins.

Run: ``.venv/bin/python scripts/fetch_web_assets.py`` (after changing a pin, print the
new file hashes with ``--print-hashes`` and copy them into ``assets.json``).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from pathlib import Path

VENDOR = Path(__file__).resolve().parent.parent / "src" / "spine" / "web" / "static" / "vendor"


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        return bytes(response.read())


def check_integrity(data: bytes, integrity: str, url: str) -> None:
    algorithm, _, expected = integrity.partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if actual != expected:
        raise SystemExit(f"{url}: {algorithm} is {actual}, the pin says {expected}")


def main(print_hashes: bool = False) -> None:
    pins = json.loads((VENDOR / "assets.json").read_text(encoding="utf-8"))
    for pin in pins:
        tarball = fetch(pin["tarball"])
        check_integrity(tarball, pin["integrity"], pin["tarball"])
        with tarfile.open(fileobj=io.BytesIO(tarball)) as archive:
            for target, wanted in pin["files"].items():
                member = archive.extractfile(wanted["from"])
                if member is None:
                    raise SystemExit(f"{pin['package']}: no file {wanted['from']}")
                data = member.read()
                digest = hashlib.sha256(data).hexdigest()
                if print_hashes:
                    print(f"{target} {digest}")
                elif digest != wanted["sha256"]:
                    raise SystemExit(f"{target}: sha256 {digest}, the pin says {wanted['sha256']}")
                (VENDOR / target).write_bytes(data)
        print(f"{pin['package']} {pin['version']}: {', '.join(pin['files'])}")


if __name__ == "__main__":
    main(print_hashes="--print-hashes" in sys.argv[1:])
