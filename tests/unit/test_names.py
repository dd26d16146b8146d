"""Names that say what they mean."""

from __future__ import annotations

from recorder_sync.domain.errors import Error, KeyMismatch, KeyProblem
from recorder_sync.domain.model import RecordingState


def test_pending_states_are_those_before_the_stored_copy_is_verified() -> None:
    pending = [s.value for s in RecordingState if s.pending]
    assert pending == ["hashed", "probed", "signed", "stored"]
    assert not RecordingState.VERIFIED.pending and not RecordingState.RELEASED.pending


def test_key_problems_do_not_look_like_the_builtin_key_error() -> None:
    assert issubclass(KeyMismatch, KeyProblem) and issubclass(KeyProblem, Error)
    assert not issubclass(KeyProblem, KeyError) and KeyProblem.exit_code == 5
