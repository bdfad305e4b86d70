"""The README documents every setting and starts with the two commands."""

from pathlib import Path

from gateway.config import _SECTIONS, Settings

README = (Path(__file__).parents[2] / "README.md").read_text()


def env_names() -> list[str]:
    names = [f"NETGPT_{n.upper()}" for n in Settings.model_fields if n not in _SECTIONS]
    for cls in _SECTIONS.values():
        prefix = cls.model_config["env_prefix"]
        names += [prefix + n.upper() for n in cls.model_fields]
    return names


def test_every_setting_is_in_the_configuration_table():
    missing = [name for name in env_names() if f"`{name}`" not in README]
    assert not missing, f"add these to the README's configuration table: {missing}"


def test_readme_starts_with_the_two_commands():
    first_block = README.split("```")[1]
    assert "scripts/test" in first_block and len(first_block.strip().splitlines()) == 3
