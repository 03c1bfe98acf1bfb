"""Regenerate docs/wizard.svg: the wizard on a real refused port, with the real engine.

Run: .venv/bin/python docs/make_screenshot.py  (port 62893 must be free)
"""

import asyncio
from pathlib import Path

from portdoctor.target import parse_target
from portdoctor.tui.app import WizardApp
from portdoctor.tui.engine import Engine

OUT = Path(__file__).resolve().parent / "wizard.svg"


async def main() -> None:
    app = WizardApp([parse_target("127.0.0.1:62893")], Engine())
    async with app.run_test(size=(110, 34)) as pilot:
        await pilot.pause(0.5)
        await app.workers.wait_for_complete()
        await pilot.pause(0.5)
        OUT.write_text(app.export_screenshot(), encoding="utf-8")
    print(f"wrote {OUT}")


asyncio.run(main())
