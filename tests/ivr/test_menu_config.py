"""Given/when/then tests of menu-file validation: each mistake IT staff can make names its menu."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from ari_app.ivr import DEFAULT_MENU_FILE, MenuConfigError, MenuStore, load_menu_file, parse_menu_data
from ari_app.settings import Settings

DEPARTMENTS = {"front desk": "100", "reservations": "101", "manager": "103"}


def build(data: dict[str, Any]) -> Any:
    return parse_menu_data(data, departments=DEPARTMENTS)


def test_given_the_bundled_menu_when_loaded_with_default_settings_then_it_is_valid() -> None:
    store = MenuStore.from_settings(Settings())
    assert store.path == DEFAULT_MENU_FILE
    assert set(store.tree.menus) >= {"main", "night"}
    assert store.tree.menus["main"].options["2"].extension == "100"


def test_given_valid_menu_then_defaults_apply_timeout_ten_seconds_three_attempts(menu_data: dict[str, Any]) -> None:
    tree = build(menu_data)
    changes = tree.menus["changes"]
    assert changes.timeout_s == 10.0
    assert changes.timeout_attempts == 3
    assert changes.direct_dial is None


def test_given_option_to_unknown_menu_when_loaded_then_error_names_menu_and_target(
    menu_data: dict[str, Any],
) -> None:
    menu_data["menus"]["reservations"]["options"][1]["menu"] = "chagnes"
    with pytest.raises(MenuConfigError, match=r"menu 'reservations': key 2 goes to unknown menu 'chagnes'") as err:
        build(menu_data)
    assert err.value.menu == "reservations"


def test_given_unknown_department_when_loaded_then_error_names_menu_and_lists_known(
    menu_data: dict[str, Any],
) -> None:
    menu_data["menus"]["changes"]["options"][0]["department"] = "spa"
    with pytest.raises(MenuConfigError, match=r"menu 'changes': .*unknown department 'spa' \(known: front desk"):
        build(menu_data)


def test_given_unknown_entry_menu_when_loaded_then_error_names_it(menu_data: dict[str, Any]) -> None:
    menu_data["entry"]["night"] = "nite"
    with pytest.raises(MenuConfigError, match=r"menu 'nite': entry.night"):
        build(menu_data)


def test_given_duplicate_digit_when_loaded_then_error_names_menu_and_key(menu_data: dict[str, Any]) -> None:
    menu_data["menus"]["main"]["options"].append({"digit": 3, "action": "agent"})
    with pytest.raises(MenuConfigError, match=r"menu 'main': key 3 is defined twice"):
        build(menu_data)


def test_given_same_synonym_on_two_keys_when_loaded_then_error_names_menu(menu_data: dict[str, Any]) -> None:
    menu_data["menus"]["main"]["options"][2]["synonyms"] = ["Reception"]
    with pytest.raises(MenuConfigError, match=r"menu 'main': synonym 'Reception' is used by keys 2 and 3"):
        build(menu_data)


def test_given_menus_that_only_point_at_each_other_when_loaded_then_loop_with_no_exit_names_menu() -> None:
    data: dict[str, Any] = {
        "entry": "a",
        "operator_digit": None,
        "defaults": {
            "timeout": {"destination": {"action": "menu", "menu": "b"}},
            "invalid": {"destination": {"action": "menu", "menu": "b"}},
        },
        "menus": {
            "a": {"prompt": {"text": "A"}, "options": [{"digit": 1, "action": "menu", "menu": "b"}]},
            "b": {
                "prompt": {"text": "B"},
                "options": [{"digit": 1, "action": "menu", "menu": "a"}],
                "timeout": {"destination": {"action": "hangup"}},
                "invalid": {"destination": {"action": "hangup"}},
            },
        },
    }
    # b can hang up on timeout, so both can exit: valid
    build(copy.deepcopy(data))
    data["menus"]["b"]["timeout"] = {}
    data["menus"]["b"]["invalid"] = {}
    with pytest.raises(MenuConfigError, match=r"menu 'a': loop with no exit") as err:
        build(data)
    assert err.value.menu == "a"


def test_given_timeout_destinations_that_cycle_when_loaded_then_error_shows_the_cycle(
    menu_data: dict[str, Any],
) -> None:
    menu_data["menus"]["main"]["timeout"] = {"destination": {"action": "menu", "menu": "reservations"}}
    with pytest.raises(MenuConfigError, match=r"menu 'main': timeout destinations loop forever \(main -> reservations -> main\)"):
        build(menu_data)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"digit": "*", "action": "agent"}, "key \\* is reserved for back"),
        ({"digit": "#", "action": "agent"}, "key # is reserved for finish"),
        ({"digit": 12, "action": "agent"}, "one key 0-9"),
        ({"digit": 4, "action": "teleport"}, "action"),
        ({"digit": 4, "action": "transfer"}, "exactly one of extension or department"),
        ({"digit": 4, "action": "info"}, "prompt"),
    ],
)
def test_given_bad_option_when_loaded_then_error_names_menu(
    menu_data: dict[str, Any], option: dict[str, Any], message: str
) -> None:
    menu_data["menus"]["changes"]["options"].append(option)
    with pytest.raises(MenuConfigError, match=rf"menu 'changes': .*{message}"):
        build(menu_data)


def test_given_repeat_as_final_destination_when_loaded_then_refused(menu_data: dict[str, Any]) -> None:
    menu_data["menus"]["night"]["invalid"] = {"destination": {"action": "repeat"}}
    with pytest.raises(MenuConfigError, match=r"menu 'night': menus.night.invalid.destination"):
        build(menu_data)


def test_given_bad_direct_dial_pattern_when_loaded_then_error_names_menu(menu_data: dict[str, Any]) -> None:
    menu_data["menus"]["main"]["direct_dial"]["pattern"] = "[4-"
    with pytest.raises(MenuConfigError, match=r"menu 'main': .*not a regular expression"):
        build(menu_data)


def test_given_bad_holiday_or_zone_when_loaded_then_clear_error(menu_data: dict[str, Any]) -> None:
    bad = copy.deepcopy(menu_data)
    bad["holidays"] = ["Christmas"]
    with pytest.raises(MenuConfigError, match="holiday 'Christmas'"):
        build(bad)
    menu_data["timezone"] = "Mars/Olympus"
    with pytest.raises(MenuConfigError, match="Mars/Olympus"):
        build(menu_data)


def test_given_yaml_with_the_same_menu_twice_when_loaded_then_error_names_it(tmp_path: Path) -> None:
    path = tmp_path / "menu.yaml"
    path.write_text(
        "entry: main\nmenus:\n  main:\n    prompt: {text: A}\n  main:\n    prompt: {text: B}\n", encoding="utf-8"
    )
    with pytest.raises(MenuConfigError, match=r"line 5: key 'main' appears twice") as err:
        load_menu_file(path)
    assert err.value.menu == "main"


def test_given_store_when_file_becomes_invalid_then_reload_raises_and_old_tree_stays(
    tmp_path: Path, menu_data: dict[str, Any]
) -> None:
    path = tmp_path / "menu.yaml"
    path.write_text(yaml.safe_dump(menu_data), encoding="utf-8")
    store = MenuStore(path, departments=DEPARTMENTS)
    before = store.tree
    menu_data["menus"]["main"]["options"][0]["menu"] = "nowhere"
    path.write_text(yaml.safe_dump(menu_data), encoding="utf-8")
    with pytest.raises(MenuConfigError, match="nowhere"):
        store.reload()
    assert store.tree is before
    assert store.last_error is not None and "nowhere" in store.last_error
    menu_data["menus"]["main"]["options"][0]["menu"] = "changes"
    path.write_text(yaml.safe_dump(menu_data), encoding="utf-8")
    after = store.reload()
    assert after is store.tree and after is not before
    assert after.menus["main"].options["1"].menu == "changes"
    assert store.reloads == 1 and store.last_error is None
