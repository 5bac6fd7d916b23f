"""Add messages that are new in the code and translated in `nb_translations.py` to the
catalogs, leaving every other line as it is.

`make messages` rewrites the whole catalog; this appends only what is missing (extracted
with the same settings) and has a translation, so a change that adds a few messages adds
only those lines (`make messages-append`).
"""

from __future__ import annotations

import runpy
import subprocess
import sys
import tempfile
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "service" / "web" / "locale"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _entry(msgid: str | tuple[str, ...], msgstr: str | tuple[str, ...]) -> str:
    flag = "#, python-format\n" if "%(" in "".join(msgid) else ""
    if isinstance(msgid, tuple):  # singular and plural; a form per plural of the language
        forms = msgstr if isinstance(msgstr, tuple) else ("", "")
        lines = [f"msgid {_quote(msgid[0])}", f"msgid_plural {_quote(msgid[1])}"]
        lines += [f"msgstr[{i}] {_quote(form)}" for i, form in enumerate(forms)]
        return "\n" + flag + "\n".join(lines) + "\n"
    assert isinstance(msgstr, str)
    return f"\n{flag}msgid {_quote(msgid)}\nmsgstr {_quote(msgstr)}\n"


def main() -> int:
    nb = runpy.run_path(str(LOCALE / "nb_translations.py"))["NB"]
    with tempfile.TemporaryDirectory() as tmp:
        pot = Path(tmp) / "messages.pot"
        subprocess.run(  # noqa: S603 (our own interpreter, fixed arguments)
            [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg",
             "-k", "N_", "-k", "gettext", "-k", "ngettext:1,2", "--no-location",
             "--omit-header", "-o", str(pot), "."],
            cwd=ROOT, check=True, capture_output=True,
        )  # fmt: skip
        with pot.open("rb") as fp:
            extracted = [tuple(m.id) if isinstance(m.id, list | tuple) else m.id
                         for m in read_po(fp) if m.id]  # fmt: skip
    for path, translate in (
        (LOCALE / "messages.pot", False),
        (LOCALE / "nb" / "LC_MESSAGES" / "messages.po", True),
    ):
        with path.open("rb") as fp:
            known = {tuple(m.id) if isinstance(m.id, list | tuple) else m.id for m in read_po(fp)}
        missing = [m for m in extracted if m not in known and m in nb]
        with path.open("a", encoding="utf-8") as out:
            for msgid in missing:
                out.write(_entry(msgid, nb.get(msgid, "") if translate else ""))
        print(f"{path.relative_to(ROOT)}: {len(missing)} added")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
