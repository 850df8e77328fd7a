"""The project's exceptions. Each message says what was wrong, where, and what to do about it."""


class EladError(Exception):
    """Base class: every error the engine raises on purpose. The CLI prints these without a traceback."""


class ConfigError(EladError):
    """A config value is missing or outside its allowed range; the message names the field."""


class DatasetError(EladError):
    """A dataset file was refused; the message names the file, the row and the problem."""


class StudentError(EladError):
    """The student model or its adapter could not be loaded or used."""


class TeacherError(EladError):
    """The teacher could not produce a usable answer for a sample; the tokens it spent and its raw reply ride
    along so the ledger stays exact and a reviewer can see what came back."""

    def __init__(self, message: str, prompt_tokens: int = 0, completion_tokens: int = 0, raw: str = ""):
        super().__init__(message)
        self.prompt_tokens, self.completion_tokens, self.raw = prompt_tokens, completion_tokens, raw
        self.abandoned = 0  # attempts that timed out (the provider may still bill them)


class TeacherUnavailable(TeacherError):
    """The teacher endpoint cannot be used at all (wrong key, unknown model, unreachable): the phase stops
    instead of failing every sample one by one."""


class BudgetExceeded(EladError):
    """The next teacher call could exceed the project's budget, so it was not made."""


class StoreError(EladError):
    """The workspace database refused an operation (unknown project, bad state, ...)."""


class LeaseLost(BaseException):
    """A worker's write for a job whose lease another worker holds now (this one stalled past the lease): refused.
    A BaseException, so no `except Exception` on the way can swallow it and carry on writing; the worker catches
    it, writes nothing more for that job, and goes on with the next."""
