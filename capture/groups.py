"""The channel-layer groups a shooting socket joins, named in one place: the consumers join them,
and code that is not a socket (a shot developed again, a process that died) sends to them."""


def user_group(user_id) -> str:
    """Every shooting socket of one user, on every web process."""
    return f"shooter-{user_id}"


def session_group(session_key: str) -> str:
    """The sockets opened under one login session: closed together when it ends."""
    return f"session-{session_key}"
