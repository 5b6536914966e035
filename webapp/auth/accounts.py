"""Ending a user's access: disabling an account and ending all of its sessions and tokens."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import with_appcontext
from sqlalchemy import func, select

from webapp.auth.models import User
from webapp.extensions import db, writing


def end_sessions(user: User) -> None:
    """Every session cookie and API token issued to ``user`` so far stops working (flushes).

    Both carry the user's ``session_generation``; the user loader and the token check refuse
    any other value.
    """
    user.session_generation = (user.session_generation or 0) + 1
    db.session.flush()


MIN_PASSWORD_LENGTH = 8


def password_problem(user: User, password: str) -> str | None:
    """Why ``password`` cannot be ``user``'s new password, or None."""
    if len(password or "") < MIN_PASSWORD_LENGTH:
        return f"The password must be at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > 256:
        return "The password must be at most 256 characters."
    if user.username.lower() in password.lower():
        return "The password must not contain the username."
    return None


def set_new_password(user: User, password: str) -> None:
    """Give ``user`` a new password and end every session and token issued before (flushes).

    Raises ValueError with the reason for a password that is not allowed."""
    problem = password_problem(user, password)
    if problem:
        raise ValueError(problem)
    user.set_password(password)
    end_sessions(user)


def disable_user(user: User) -> None:
    """The user can no longer sign in, and is signed out everywhere at the next request."""
    user.is_enabled = False
    end_sessions(user)


def enable_user(user: User) -> None:
    user.is_enabled = True
    db.session.flush()


def _find(username: str) -> User:
    user = db.session.scalar(select(User).where(func.lower(User.username) == username.strip().lower()))
    if user is None:
        raise click.ClickException(f"No user named {username!r}.")
    return user


# users <command> USERNAME: (what it does to the account, its help, what it says when done).
_ACCOUNT_COMMANDS = {
    "disable": (disable_user, "Disable a user: no sign-in, and their sessions and tokens end now.",
                "Disabled {username}; their sessions and tokens no longer work."),
    "enable": (enable_user, "Allow a disabled user to sign in again.", "Enabled {username}."),
    "end-sessions": (end_sessions,
                     "Sign a user out everywhere (sessions and API tokens), e.g. after a lost tablet.",
                     "Ended every session and token of {username}."),
}


def _account_command(change, help_text: str, done: str) -> click.Command:
    @click.argument("username")
    @with_appcontext
    def command(username: str) -> None:
        with writing():
            change(_find(username))
            db.session.commit()
        click.echo(done.format(username=username))

    command.__doc__ = help_text
    return command


def _set_password_command() -> click.Command:
    # A new function per app: click takes the parameters off the function it makes a command of.
    @click.argument("username")
    @click.password_option("--password", help="The new password (asked twice when not given).")
    @with_appcontext
    def command(username: str, password: str) -> None:
        with writing():
            try:
                set_new_password(_find(username), password)
            except ValueError as error:
                raise click.ClickException(str(error)) from None
            db.session.commit()
        click.echo(f"Set a new password for {username}; their sessions and tokens no longer work.")

    return command


def register_cli(app: Flask) -> None:
    users_group = app.cli.commands["users"]
    for name, (change, help_text, done) in _ACCOUNT_COMMANDS.items():
        users_group.command(name, help=help_text)(_account_command(change, help_text, done))
    users_group.command("set-password", help="Set a user's password (an administrator's reset); their sessions "
                        "and tokens end now.")(_set_password_command())
