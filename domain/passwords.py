"""What a password must be, wherever one is set (configuration file, invitation, reset)."""

from __future__ import annotations

from domain.fields import unstorable

MIN_LENGTH = 8
MAX_LENGTH = 1024  # the sign-in form's limit

# The problems, as shown (the pages translate them).
TOO_SHORT = "A password needs at least 8 characters."
TOO_LONG = "A password can have at most 1024 characters."
NOT_STORABLE = "The password holds a character that cannot be stored. Choose another."
IS_NAME = "A password cannot be your user name or email address."
MISMATCH = "The two passwords are not the same."
PROBLEMS = (TOO_SHORT, TOO_LONG, NOT_STORABLE, IS_NAME, MISMATCH)


def password_problem(password: str, again: str, *names: str) -> str | None:
    """Why this new password is refused (None: it is fine). `names`: the user's id, email."""
    if unstorable(password):
        return NOT_STORABLE
    if len(password) < MIN_LENGTH:
        return TOO_SHORT
    if len(password) > MAX_LENGTH:
        return TOO_LONG
    if any(n and password.strip().lower() == n.strip().lower() for n in names):
        return IS_NAME
    if password != again:
        return MISMATCH
    return None
