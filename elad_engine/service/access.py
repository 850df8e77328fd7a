"""The role check of the service layer, made once per action: every public method of an `Area` declares the
permission it needs with `@action(Permission.X)`, and a method without one is refused when its class is defined, so
no action can be added that forgets its check. The check runs before the method body, for any arguments."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import TypeVar

from ..accounts import Permission, User, require
from ..store import Store

F = TypeVar("F", bound=Callable)


def action(permission: Permission) -> Callable[[F], F]:
    """Declare what a service method needs; the acting user is checked before the method runs."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def guarded(self: Area, *args, **kwargs):
            require(self.user, permission)
            return fn(self, *args, **kwargs)

        guarded.permission = permission
        return guarded  # type: ignore[return-value]

    return wrap


def permission_of(method: Callable) -> Permission | None:
    return getattr(method, "permission", None)


class Area:
    """One area of the service (projects, rounds, review, ...): the store and the acting user, and guarded methods."""

    def __init__(self, store: Store, user: User):
        self.store, self.user = store, user

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        unguarded = [name for name, member in vars(cls).items() if not name.startswith("_") and (
            isinstance(member, (staticmethod, classmethod, property))  # no way around the acting user
            or inspect.isfunction(member) and permission_of(member) is None)]
        if unguarded:
            raise TypeError(f"{cls.__name__}: public method(s) {', '.join(unguarded)} declare no permission; "
                            "decorate them with @action(Permission.X)")

    @classmethod
    def actions(cls) -> dict[str, Permission]:
        """Every public method of the area and the permission it needs."""
        return {name: permission_of(member) for name, member in inspect.getmembers(cls, inspect.isfunction)
                if not name.startswith("_")}
