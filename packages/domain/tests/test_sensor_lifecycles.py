"""The alert and device-enrolment lifecycles, walked pair by pair against the moves written out
here once more by hand: a move the table gains or loses fails a test."""

from __future__ import annotations

from itertools import product

import pytest
from bijmantra.domain.sensors import (
    ALERT_LIFECYCLE,
    ENROLMENT_LIFECYCLE,
    AlertAction,
    AlertStatus,
    EnrolmentAction,
    EnrolmentState,
)
from bijmantra.kernel import Conflict
from bijmantra.kernel.lifecycle import terminal

ALERT_MOVES = {
    ("open", "acknowledged"): "acknowledged",
    ("open", "cleared"): "cleared",
    ("acknowledged", "cleared"): "cleared",
}
ENROLMENT_MOVES = {
    ("registered", "issued a claim code"): "claim_issued",
    ("claim_issued", "issued a claim code"): "claim_issued",
    ("claim_issued", "claimed"): "claimed",
    ("claimed", "commissioned"): "commissioned",
    ("registered", "revoked"): "revoked",
    ("claim_issued", "revoked"): "revoked",
    ("claimed", "revoked"): "revoked",
    ("commissioned", "revoked"): "revoked",
}


def test_an_alert_moves_only_open_to_acknowledged_to_cleared() -> None:
    for state, action in product(AlertStatus, AlertAction):
        expected = ALERT_MOVES.get((state.value, action.value))
        if expected is None:
            article = "An" if state is not AlertStatus.CLEARED else "A"
            with pytest.raises(Conflict, match=f"^{article} {state} alert cannot be {action}$"):
                ALERT_LIFECYCLE.next(state, action)
        else:
            assert ALERT_LIFECYCLE.next(state, action).value == expected
    assert terminal(ALERT_LIFECYCLE, AlertStatus) == {AlertStatus.CLEARED}


def test_a_device_is_enrolled_step_by_step_and_revoked_from_anywhere_once() -> None:
    for state, action in product(EnrolmentState, EnrolmentAction):
        expected = ENROLMENT_MOVES.get((state.value, action.value))
        if expected is None:
            with pytest.raises(Conflict) as refused:
                ENROLMENT_LIFECYCLE.next(state, action)
            assert refused.value.details[0].location == "status"
        else:
            assert ENROLMENT_LIFECYCLE.next(state, action).value == expected
    assert terminal(ENROLMENT_LIFECYCLE, EnrolmentState) == {EnrolmentState.REVOKED}
