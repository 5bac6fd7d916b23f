"""`clo demo` on a small feed: offline, reproducible, balanced."""

from __future__ import annotations

import subprocess
import sys


def run_demo(tmp_path, events: int) -> str:
    db = tmp_path / "demo.db"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "service.cli",
            "demo",
            "--events",
            str(events),
            "--database",
            f"sqlite:///{db}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,  # the demo remembers its database in the working directory
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / ".clo-last-database").read_text().strip() == f"sqlite:///{db}"
    return proc.stdout


def test_demo_prints_a_balanced_ledger_and_is_reproducible(tmp_path):
    first = run_demo(tmp_path, 4_000)
    assert "ledger balanced: yes" in first
    assert "rejected" in first and "duplicates" in first
    second = run_demo(tmp_path, 4_000)

    def figures(out: str) -> list[str]:
        return [
            line for line in out.splitlines() if not line.startswith(("done in", "admin API key"))
        ]

    assert figures(first) == figures(second)
