"""The engine's logging: every module logs under the `elad_engine` logger (`logging.getLogger(__name__)`);
`configure_logging()` sends WARNING and up (or $ELAD_LOG_LEVEL) to stderr with a time stamp and the process id. The
CLI and the web app call it; nothing configures logging at import, so a program that imports the engine keeps its
own setup."""

from __future__ import annotations

import logging
import os
import sys


def configure_logging() -> None:
    logger = logging.getLogger("elad_engine")
    if logger.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(os.environ.get("ELAD_LOG_LEVEL", "WARNING").upper())
