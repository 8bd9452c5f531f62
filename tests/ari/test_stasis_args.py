"""The dialled number from Stasis() arguments, as our rendered dialplan and hand-written ones pass them."""

from __future__ import annotations

import pytest

from ari_app.calls.call import called_number_from


@pytest.mark.parametrize(
    ("args", "exten", "expected"),
    [
        (("inbound", "+15550100"), "s", "+15550100"),  # trunk DID (rendered extensions.conf)
        (("afterhours", "+15550100"), "s", "+15550100"),
        (("internal", "412"), "0", "0"),  # a room dialling the operator: the DID is the extension
        (("webrtc", "operator"), "operator", "operator"),
        (("+15550199",), "100", "+15550199"),  # Stasis(app,<DID>) written by hand
        ((), "100", "100"),  # Stasis(app) as in the records
        (("inbound",), "7000", "7000"),
    ],
)
def test_given_stasis_args_when_reading_the_dialled_number_then_reason_words_are_not_numbers(
    args: tuple[str, ...], exten: str, expected: str
) -> None:
    assert called_number_from(args, exten) == expected
