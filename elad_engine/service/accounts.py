"""The accounts area of the service: logging in, the first admin of a new workspace, the user list, adding users."""

from __future__ import annotations

from ..accounts import AccessDenied, Permission, User, add_user, authenticate
from .access import Area, action


class AccountsArea(Area):
    @action(Permission.PUBLIC)
    def exist(self) -> bool:
        """Whether the workspace has accounts (then everyone logs in)."""
        return self.store.users.exist()

    @action(Permission.PUBLIC)
    def log_in(self, name: str, password: str) -> User:
        return authenticate(self.store, name.strip(), password)

    @action(Permission.PUBLIC)
    def create_first_admin(self, name: str, password: str) -> User:
        """The first account of a workspace is an admin, created by whoever reaches the app first; once any
        account exists, only admins add users."""
        with self.store.transaction():
            if self.store.users.exist():
                raise AccessDenied("this workspace has accounts already: an admin adds users")
            add_user(self.store, name.strip(), password, "admin")
        return authenticate(self.store, name.strip(), password)

    @action(Permission.READ)
    def list(self) -> list[dict]:
        """{name, role} of every user."""
        return self.store.users.list()

    @action(Permission.USERS)
    def add(self, name: str, password: str, role: str) -> None:
        add_user(self.store, name.strip(), password, role)
