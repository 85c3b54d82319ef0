"""The front-end libraries ship pinned inside the package, and no page loads anything
from elsewhere or runs an inline script."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from spine.web.guard import SECURITY_HEADERS

WEB = Path(__file__).resolve().parents[2] / "src" / "spine" / "web"
VENDOR = WEB / "static" / "vendor"
DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_committed_libraries_match_their_pins() -> None:
    pins = json.loads((VENDOR / "assets.json").read_text(encoding="utf-8"))
    pinned = set()
    for pin in pins:
        assert re.fullmatch(r"\d+\.\d+\.\d+", pin["version"]), pin  # an exact version
        assert pin["tarball"].endswith(f"-{pin['version']}.tgz")
        assert pin["integrity"].startswith("sha512-")
        for name, wanted in pin["files"].items():
            digest = hashlib.sha256((VENDOR / name).read_bytes()).hexdigest()
            assert digest == wanted["sha256"], f"{name} differs from {pin['package']}'s pin"
            pinned.add(name)
    assert {p.name for p in VENDOR.iterdir()} == pinned | {"assets.json"}


def test_pages_load_only_files_of_this_package_and_run_no_inline_script() -> None:
    for template in (WEB / "templates").glob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), template.name
        for tag in re.findall(r"<script[^>]*>", text):
            # A script is a file under /static, or data a script reads (never executed).
            assert 'src="/static/' in tag or 'type="application/json"' in tag, tag
        assert " style=" not in text, template.name
        assert "<style" not in text, template.name
    policy = dict(SECURITY_HEADERS)[b"content-security-policy"].decode()
    assert "script-src 'self';" in policy  # no 'unsafe-inline', no 'unsafe-eval'


def test_the_ui_docs_show_the_screenshots() -> None:
    text = (DOCS / "ui.md").read_text(encoding="utf-8")
    shown = re.findall(r"!\[[^\]]*\]\((img/[^)]+\.png)\)", text)
    assert {"img/runs.png", "img/run-map.png", "img/run-failed.png", "img/workflow.png"} <= set(
        shown
    )
    for image in shown:
        assert (DOCS / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", image
