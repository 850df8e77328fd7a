"""Run inside a fresh network namespace (`unshare -rn`) by test_open_door.py: give the namespace's loopback device a
non-loopback address, serve the app there (nothing outside the namespace can reach it), and print as JSON what
chromium sees at each URL of a workspace without accounts, then after the first admin is created."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ADDRESS = "10.9.9.1"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def main(ws: str) -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "addr", "add", f"{ADDRESS}/32", "dev", "lo"], check=True)
    env = dict(os.environ, PYTHONPATH=str(REPO), ELAD_WORKSPACE=ws, ELAD_NO_WORKER="1")
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", "8599",
                               "--server.address", ADDRESS, "--server.headless", "true",
                               "--browser.gatherUsageStats", "false"], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://{ADDRESS}:8599"
    seen: dict = {}
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
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
    finally:
        server.terminate()
        server.wait(10)
    print(json.dumps(seen))


if __name__ == "__main__":
    main(sys.argv[1])
