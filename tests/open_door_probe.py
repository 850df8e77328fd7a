"""Run inside a fresh network namespace (`unshare -rn`) by test_open_door.py: give the namespace's loopback device a
non-loopback address, serve the app there (nothing outside the namespace can reach it), and print as JSON what
chromium sees at each URL of a workspace without accounts, then after the first admin is created."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import CHROMIUM, streamlit_app
from conftest import CHROMIUM_ARGS as ARGS

ADDRESS = "10.9.9.1"


def main(ws: str) -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "addr", "add", f"{ADDRESS}/32", "dev", "lo"], check=True)
    seen: dict = {}
    with streamlit_app(Path(ws), address=ADDRESS, ELAD_NO_WORKER="1") as (url, _):
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page()

            def look(path: str) -> dict:
                page.goto(url + path)
                page.get_by_role("heading", level=1).first.wait_for(timeout=60_000)
                page.wait_for_timeout(1500)
                return {"h1": page.get_by_role("heading", level=1).first.inner_text().strip(),
                        "nav_links": page.get_by_role("link", name="Rounds").count(),
                        "text": page.inner_text("body")[:2000]}

            for path in ("/", "/review", "/rounds", "/export", "/accounts"):
                seen[path] = look(path)
            page.goto(url + "/")
            page.get_by_label("Admin user name").fill("ada")
            page.get_by_label("Password (10 characters or more)", exact=True).fill("a long admin password")
            page.get_by_role("button", name="Create the admin account").click()
            page.get_by_role("heading", name="Projects").wait_for(timeout=60_000)
            page.wait_for_timeout(1500)  # the run that writes the session cookie
            seen["after"] = look("/accounts")
            browser.close()
    print(json.dumps(seen))


if __name__ == "__main__":
    main(sys.argv[1])
