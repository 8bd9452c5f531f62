"""The call's language from the number dialled: settings validation, the choice rule, and a whole
keypad-only call through the Asterisk stand-in whose row records that language."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from e2e_support import Stack, running_stack, wait_for
from sqlalchemy import select

from ari_app.settings import ConfigError, SpeechSettings, load_settings
from models import VoiceCall

SPANISH = {"HOTEL_OPERATOR_SPEECH__VOICES": json.dumps({"es": "/voices/es_ES-davefx-medium.onnx"})}


def test_given_a_did_mapped_to_a_language_without_voice_when_loading_then_one_line_config_error_names_the_setting() -> None:
    env = {"HOTEL_OPERATOR_SPEECH__DID_LANGUAGES": json.dumps({"+15550199": "fr"})}
    with pytest.raises(ConfigError) as err:
        load_settings(None, env=env)
    message = str(err.value)
    assert "\n" not in message
    assert "speech.did_languages" in message and "'fr'" in message and "+15550199" in message


def test_given_a_did_mapped_to_a_voiced_language_when_loading_then_settings_accept_it() -> None:
    env = {**SPANISH, "HOTEL_OPERATOR_SPEECH__DID_LANGUAGES": json.dumps({"+15550199": "es", "15550100": "en"})}
    settings = load_settings(None, env=env)
    assert settings.speech.did_languages == {"+15550199": "es", "15550100": "en"}
    assert settings.speech.languages() == ["en", "es"]


@pytest.mark.parametrize(
    ("called", "channel", "expected"),
    [
        ("+15550199", "en", "es"),  # the DID wins over the channel
        ("15550199", "en", "es"),  # with or without the leading +
        ("+15550100", "es", "es"),  # no mapping: the channel's own language, which has a voice
        ("+15550100", "de", "en"),  # a channel language we cannot speak: the default
        ("+15550100", "", "en"),
    ],
)
def test_given_did_and_channel_languages_when_choosing_then_did_then_voiced_channel_then_default(
    called: str, channel: str, expected: str
) -> None:
    speech = SpeechSettings(voices={"es": "/voices/es.onnx"}, did_languages={"+15550199": "es"})
    assert speech.call_language(called, channel) == expected


async def _row(stack: Stack, channel: str) -> VoiceCall:
    async with stack.service.sessions() as db:
        row: VoiceCall = (await db.execute(select(VoiceCall).where(VoiceCall.channel_id == channel))).scalar_one()
    return row


async def test_given_spanish_did_when_a_keypad_only_call_arrives_then_the_call_runs_in_spanish(tmp_path: Path) -> None:
    env = {**SPANISH, "HOTEL_OPERATOR_SPEECH__DID_LANGUAGES": json.dumps({"+15550199": "es"})}
    async with running_stack(tmp_path, env=env) as stack:
        ch = stack.standin.place_call(caller_number="+15557770001", did="+15550199")
        other = stack.standin.place_call(caller_number="+15557770002", did="+15550100")
        await wait_for(lambda: stack.media_leg(ch) is not None and stack.media_leg(other) is not None, 10, "bridged")
        calls = {c.channel_id: c for c in stack.service.managers[0].calls.values()}
        assert calls[ch].info.language == "es"
        assert calls[other].info.language == "en"
        assert (await _row(stack, ch)).language == "es"
        assert (await _row(stack, other)).language == "en"
