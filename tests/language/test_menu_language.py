"""The caller's language choice in the keypad menu: checked at load, emitted by the engine before the
next menu's prompt, and heard in that language's voice from then on, the agent's greeting included."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from langsupport import FakeControl, RecordingBrain, StoreWithSessions, two_language_engines, wait_until
from speechsupport import FakeSession, MemMedia

from ari_app.conversation import CallConversation, ConversationDeps
from ari_app.ivr import Digit, IvrEngine, MenuConfigError, MenuStore, Play, SetLanguage, parse_menu_data
from ari_app.session import CallInfo
from ari_app.settings import Settings

MENU: dict[str, Any] = {
    "entry": "language",
    "menus": {
        "language": {
            "prompt": {"text": "For English press 1. Para español oprima 2."},
            "options": [
                {"digit": 1, "action": "language", "language": "en", "menu": "main"},
                {"digit": 2, "action": "language", "language": "es", "menu": "principal"},
            ],
        },
        "main": {
            "prompt": {"text": "Press 1 to talk to our assistant."},
            "options": [{"digit": 1, "action": "agent"}],
        },
        "principal": {
            "prompt": {"text": "Oprima 1 para hablar con nuestro asistente."},
            "options": [{"digit": 1, "action": "agent"}],
        },
    },
}


def test_given_a_language_option_without_voice_when_loading_the_menu_then_error_names_the_menu() -> None:
    with pytest.raises(MenuConfigError) as err:
        parse_menu_data(MENU, languages=["en"])
    assert err.value.menu == "language"
    assert "'es'" in str(err.value) and "\n" not in str(err.value)


def test_given_a_language_option_to_an_unknown_menu_when_loading_then_error_names_the_menu() -> None:
    data = {**MENU, "menus": {**MENU["menus"], "language": {
        "prompt": {"text": "Choose."},
        "options": [{"digit": 2, "action": "language", "language": "es", "menu": "nowhere"},
                    {"digit": 1, "action": "agent"}],
    }}}
    with pytest.raises(MenuConfigError) as err:
        parse_menu_data(data, languages=["en", "es"])
    assert err.value.menu == "language" and "nowhere" in str(err.value)


def test_given_settings_without_a_spanish_voice_when_the_store_loads_the_menu_then_it_refuses(tmp_path: Path) -> None:
    path = tmp_path / "menu.yaml"
    path.write_text(yaml.safe_dump(MENU), encoding="utf-8")
    settings = Settings()
    settings.ivr.menu_file = str(path)
    with pytest.raises(MenuConfigError, match="menu 'language'"):
        MenuStore.from_settings(settings)
    settings.speech.voices = {"es": "/voices/es.onnx"}
    assert MenuStore.from_settings(settings).tree.menus["language"].options["2"].language == "es"


def test_given_language_menu_when_caller_presses_2_then_engine_sets_spanish_before_the_next_prompt() -> None:
    engine = IvrEngine(parse_menu_data(MENU, languages=["en", "es"]))
    engine.start()
    actions = engine.handle(Digit("2"))
    kinds = [type(a) for a in actions]
    assert SetLanguage("es") in actions
    assert kinds.index(SetLanguage) < kinds.index(Play)
    play = actions[kinds.index(Play)]
    assert isinstance(play, Play) and play.menu == "principal"
    assert engine.language == "es"


async def test_given_language_menu_when_caller_chooses_spanish_then_later_prompts_and_agent_use_the_spanish_voice(
    tmp_path: Path,
) -> None:
    engines, en, es = two_language_engines(tmp_path)
    settings = Settings()
    settings.ivr.start_in_menu = True
    brain = RecordingBrain()
    media = MemMedia()
    session = FakeSession(media, StoreWithSessions(), info=CallInfo("sess-lang", 1, "chan-1"), settings=settings)
    session.control = FakeControl()
    deps = ConversationDeps(settings=settings, brain=brain, menus=_store(tmp_path, MENU), speech=engines)
    conversation = CallConversation(deps, session)

    run = asyncio.create_task(conversation.run())
    await wait_until(lambda: "For English press 1. Para español oprima 2." in en.texts)
    session.dtmf.put_nowait("2")
    await wait_until(lambda: "Oprima 1 para hablar con nuestro asistente." in es.texts)
    assert conversation.language.code == "es" and conversation.language.source == "menu"
    assert conversation.ctx.language == "es"
    session.dtmf.put_nowait("1")  # the agent
    await wait_until(lambda: "Hola, bienvenido." in es.texts)
    await media.inbound.put(None)  # the caller hangs up
    await asyncio.wait_for(run, 5)

    assert not any("Oprima" in t or "Hola" in t for t in en.texts)
    assert brain.languages == ["es"]  # the brain greeted with a Spanish context


def _store(tmp_path: Path, data: dict[str, Any]) -> MenuStore:
    path = tmp_path / "menu.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return MenuStore(path, languages=["en", "es"])
