"""Settings from the environment: loopback defaults, external components, clear errors."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from stack.settings import Settings

pytestmark = pytest.mark.unit


@pytest.fixture
def env(tmp_path: Path):
    """Factory: an environment mapping with STRIDE_HOME in a fresh folder, plus `extra`."""

    def make(**extra: str) -> dict[str, str]:
        return {"STRIDE_HOME": str(tmp_path / "stack"), **extra}

    return make


def test_defaults_are_the_local_stack_on_loopback(env, tmp_path: Path) -> None:
    s = Settings.from_env(env())
    assert s.home == str(tmp_path / "stack") and s.home_path == tmp_path / "stack"
    assert s.kafka == "127.0.0.1:29092"
    assert s.pg_dsn == "postgresql://stride@127.0.0.1:25432/stride?sslmode=disable"
    assert s.redis_url == "redis://127.0.0.1:26379/0"
    assert s.ray_address == "127.0.0.1:26380"
    assert s.gateway_url == "http://127.0.0.1:28080"
    assert s.gateway_ws_url == "ws://127.0.0.1:28080"
    assert not (s.kafka_external or s.pg_external or s.redis_external or s.ray_external)
    assert (s.topic_partitions, s.placement, s.redis_prefix) == (6, "dedicated", "stride")


def test_an_unrelated_environment_changes_nothing(env) -> None:
    assert Settings.from_env(env(PATH="/usr/bin", KAFKA="elsewhere:9092")) == Settings.from_env(env())


def test_local_pg_dsn_uses_the_password_made_at_initdb(env, tmp_path: Path) -> None:
    password = tmp_path / "stack" / "postgres" / "password"
    password.parent.mkdir(parents=True)
    password.write_text("s3cret\n")
    assert Settings.from_env(env()).pg_dsn == "postgresql://stride:s3cret@127.0.0.1:25432/stride?sslmode=disable"


@pytest.mark.parametrize(("variable", "field", "flag", "value"), [
    ("STRIDE_KAFKA", "kafka", "kafka_external", "kafka-1:9092,kafka-2:9092"),
    ("STRIDE_PG_DSN", "pg_dsn", "pg_external", "postgresql://app:pw@db.internal:5432/stride"),
    ("STRIDE_REDIS_URL", "redis_url", "redis_external", "redis://cache.internal:6379/3"),
    ("STRIDE_RAY_ADDRESS", "ray_address", "ray_external", "ray-head.internal:6379"),
])
def test_each_server_can_be_external(env, variable: str, field: str, flag: str, value: str) -> None:
    s = Settings.from_env(env(**{variable: value}))
    assert getattr(s, field) == value
    flags = {"kafka_external", "pg_external", "redis_external", "ray_external"}
    assert {f for f in flags if getattr(s, f)} == {flag}


@pytest.mark.parametrize("variable", ["STRIDE_KAFKA", "STRIDE_PG_DSN", "STRIDE_REDIS_URL",
                                      "STRIDE_RAY_ADDRESS"])
def test_an_empty_variable_means_unset(env, variable: str) -> None:
    assert Settings.from_env(env(**{variable: ""})) == Settings.from_env(env())


@pytest.mark.parametrize(("variable", "field", "raw", "value"), [
    ("STRIDE_GATEWAY_PORT", "gateway_port", "18080", 18080),
    ("STRIDE_DEV_TOKEN", "dev_token", "t0k3n", "t0k3n"),
    ("STRIDE_DEV_USER_ID", "dev_user_id", "22222222-2222-4222-8222-222222222222",
     uuid.UUID("22222222-2222-4222-8222-222222222222")),
    ("STRIDE_TOPIC_PARTITIONS", "topic_partitions", "12", 12),
    ("STRIDE_TOPIC_REPLICATION", "topic_replication", "3", 3),
    ("STRIDE_TOPIC_MIN_INSYNC", "topic_min_insync", "2", 2),
    ("STRIDE_KAFKA_HEAP_MB", "kafka_heap_mb", "1024", 1024),
    ("STRIDE_REDIS_PREFIX", "redis_prefix", "t123", "t123"),
])
def test_typed_values_are_converted(env, variable: str, field: str, raw: str, value: object) -> None:
    assert getattr(Settings.from_env(env(**{variable: raw})), field) == value


@pytest.mark.parametrize(("variable", "raw", "field"), [
    ("STRIDE_GATEWAY_PORT", "abc", "gateway_port"),
    ("STRIDE_GATEWAY_PORT", "80.5", "gateway_port"),
    ("STRIDE_TOPIC_PARTITIONS", "six", "topic_partitions"),
    ("STRIDE_DEV_USER_ID", "not-a-uuid", "dev_user_id"),
    ("STRIDE_PLACEMENT", "shared", "placement"),
])
def test_bad_values_exit_naming_the_field(env, variable: str, raw: str, field: str) -> None:
    with pytest.raises(SystemExit) as err:
        Settings.from_env(env(**{variable: raw}))
    message = str(err.value.code)
    assert message.startswith("stride: bad setting")
    assert f"$.{field}" in message


@pytest.mark.parametrize(("variable", "raw"), [
    ("STRIDE_GATEWAY_PORT", "70000"),
    ("STRIDE_GATEWAY_PORT", "-1"),
    ("STRIDE_TOPIC_PARTITIONS", "0"),
    ("STRIDE_KAFKA_HEAP_MB", "-5"),
])
def test_out_of_range_numbers_exit(env, variable: str, raw: str) -> None:
    with pytest.raises(SystemExit):
        Settings.from_env(env(**{variable: raw}))


def test_home_is_made_absolute(env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert Settings.from_env({"STRIDE_HOME": "rel/stack"}).home == str(tmp_path / "rel" / "stack")
