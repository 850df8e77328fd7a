"""The accounts area of the service: logging in (a browser session that survives a refresh), the first admin of a
new workspace, the user list, and what admins do to users (add, change role, reset password, deactivate)."""

from __future__ import annotations

from .. import accounts
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
    def start_session(self, name: str, password: str) -> tuple[User, str]:
        """Log in and open a browser session: (the user, the token for the browser's cookie)."""
        found = authenticate(self.store, name.strip(), password)
        return found, accounts.open_session(self.store, found)

    @action(Permission.PUBLIC)
    def resume_session(self, token: str) -> User | None:
        """Who holds this session token now; None when it is unknown, expired, revoked or deactivated."""
        return accounts.resume_session(self.store, token)

    @action(Permission.PUBLIC)
    def end_session(self, token: str) -> None:
        """Log out: the session's token is refused from now on, wherever a copy of it is."""
        accounts.end_session(self.store, token)

    @action(Permission.PUBLIC)
    def create_first_admin(self, name: str, password: str) -> tuple[User, str]:
        """The first account of a workspace is an admin, created by whoever reaches the app first; once any
        account exists, only admins add users. Returns the admin, logged in, and their session token."""
        with self.store.transaction():
            if self.store.users.exist():
                raise AccessDenied("this workspace has accounts already: an admin adds users")
            add_user(self.store, name.strip(), password, "admin")
        return self.start_session(name, password)

    @action(Permission.READ)
    def list(self) -> list[dict]:
        """{name, role, active} of every user."""
        return [dict(r, active=bool(r["active"])) for r in self.store.users.list()]

    @action(Permission.USERS)
    def add(self, name: str, password: str, role: str) -> None:
        add_user(self.store, name.strip(), password, role)

    @action(Permission.USERS)
    def set_role(self, name: str, role: str) -> None:
        """A new role for `name`, in effect on their next page run (sessions read the role from the store)."""
        accounts.set_role(self.store, name, role)

    @action(Permission.USERS)
    def reset_password(self, name: str, password: str) -> int:
        """A new password for `name`; their open sessions end. How many ended."""
        return accounts.reset_password(self.store, name, password)

    @action(Permission.USERS)
    def set_active(self, name: str, active: bool) -> int:
        """Deactivate `name` (their sessions end at once; the last active admin cannot be) or reactivate them."""
        return accounts.set_active(self.store, name, active)
