"""Write each language's catalog (service/web/locale/<lang>/LC_MESSAGES/messages.po) from
the extracted messages.pot and the language's translation table; run by `make messages`."""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

LOCALE = Path(__file__).resolve().parents[2] / "service" / "web" / "locale"
sys.path.insert(0, str(LOCALE))

from nb_translations import NB  # noqa: E402


def main() -> int:
    with (LOCALE / "messages.pot").open("rb") as fp:
        catalog = read_po(fp, locale="nb")
    catalog.locale = "nb"
    catalog.fuzzy = False
    catalog.project, catalog.version = "CLO engine", "0.1.0"
    missing = []
    for message in catalog:
        if not message.id:
            continue
        found = NB.get(message.id)
        if found is None:
            missing.append(message.id)
        message.string = found if found is not None else ("", "") if message.pluralizable else ""
    out = LOCALE / "nb" / "LC_MESSAGES" / "messages.po"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as fp:
        write_po(fp, catalog, omit_header=False, no_location=True, width=100)
    for msgid in missing:
        print(f"nb: not translated: {msgid!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
