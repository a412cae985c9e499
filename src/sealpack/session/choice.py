"""Which of a peer's sessions sends, and how many are kept (docs/spec/session.md section 6).

A peer holds at most MAX_SESSIONS_PER_PEER sessions with another (two peers may start at
once; a peer that lost its state starts again). The sending one is, of those that can
send and are not retired, the one the peer used last; a newer start from the peer
retires the sessions this side could already send on (they still open late messages).
"""

from __future__ import annotations

from sealpack.session.ratchet import RatchetState

__all__ = ["MAX_SESSIONS_PER_PEER", "add_state", "retire_established", "sending_state"]

MAX_SESSIONS_PER_PEER = 4


def sending_state(states: list[RatchetState]) -> RatchetState | None:
    """The state to send with: of those that can send and are not retired, the one the
    peer used last."""
    if len(states) == 1:  # the common case
        only = states[0]
        return only if only.can_send and not only.retired else None
    ready = [s for s in states if s.can_send and not s.retired]
    if not ready:
        return None
    return max(ready, key=lambda s: (s.last_received, s.created, s.session_id))


def retire_established(states: list[RatchetState]) -> None:
    """A new start from the peer: the sessions this side could already send on become
    receive only (late messages still open), so a late message on a session the peer
    dropped never makes it the sending one again. One still waiting for the peer's
    answer (both sides started at once) stays: the peer may answer on it."""
    for index, state in enumerate(states):
        if state.can_send and not state.retired:
            working = state.copy()
            working.retired = True
            states[index] = working


def add_state(states: list[RatchetState], state: RatchetState) -> None:
    """Add a state; drop retired, then least recently used ones beyond MAX_SESSIONS_PER_PEER."""
    states.append(state)
    while len(states) > MAX_SESSIONS_PER_PEER:
        states.remove(min(states, key=lambda s: (not s.retired, s.last_received, s.created)))
