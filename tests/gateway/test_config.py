import pytest

from gateway.config import ConfigError, Settings, load_settings


def test_env_names_follow_the_contract(monkeypatch, tmp_path):
    monkeypatch.setenv("NETGPT_EDGE_BASE_URL", "http://10.0.0.5:8000/v1")
    monkeypatch.setenv("NETGPT_CLOUD_MODEL", "gpt-4o")
    monkeypatch.setenv("NETGPT_API_KEYS", "k1, k2")
    monkeypatch.setenv("NETGPT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("NETGPT_REDIS_URL", "redis://127.0.0.1:6379/0")
    s = load_settings()
    assert str(s.edge.base_url) == "http://10.0.0.5:8000/v1"
    assert s.cloud.model == "gpt-4o"
    assert s.client_keys() == [b"k1", b"k2"]
    assert s.data_dir == tmp_path and s.redis_url.startswith("redis://")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("NETGPT_EDGE_TIMEOUT_S", "soon"),
        ("NETGPT_CLOUD_API_KEY", "changeme"),
        ("NETGPT_REDIS_URL", "localhost:6379"),
        ("NETGPT_ROUTING_Q_CLOUD", "1.5"),
    ],
)
def test_bad_values_name_the_variable(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert name in str(info.value)
    assert value not in str(info.value) or name != "NETGPT_CLOUD_API_KEY"


def test_secret_is_not_in_repr():
    s = Settings(cloud={"api_key": "sk-live-very-secret"})
    assert "sk-live-very-secret" not in repr(s)
