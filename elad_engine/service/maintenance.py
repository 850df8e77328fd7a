"""The maintenance area of the service: an online backup of the live workspace (restoring one makes a new
workspace, so it needs no Studio: `elad backup --restore`)."""

from __future__ import annotations

from pathlib import Path

from ..accounts import Permission
from ..backup import backup_workspace
from .access import Area, action


class MaintenanceArea(Area):
    @action(Permission.CONFIGURE)
    def backup(self, to: str | Path, artifacts: bool = True) -> dict:
        """An online backup of the workspace (database and artifacts) into the new folder `to`."""
        return backup_workspace(self.store.workspace, to, artifacts=artifacts)
