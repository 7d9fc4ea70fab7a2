"""The model registry and Ray Serve: deploy, deploy again under load with no failed request,
roll back. Against the stack's Ray, with Serve applications and a database of the test's own."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pytest

from stack.models_cli import serve_target
from stack.settings import Settings
from storage import models_registry as registry

pytestmark = pytest.mark.integration

RISK_REQUEST = {"acute_load": 120.0, "chronic_load": 80.0, "acwr": 1.5, "monotony": 2.0,
                "strain": 900.0, "trimp_7d": 450.0, "cardiac_drift_pct": 4.0, "min_spo2": 96.0,
                "age": 34.0}
RECOMMEND_REQUEST = {"age": 34.0, "sex": "female", "weight_kg": 60.0, "goal": "endurance",
                     "inventory": "none", "acute_load": 60.0, "chronic_load": 55.0, "acwr": 1.1,
                     "risk_probability": 0.1}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two tiny risk versions and one recommender, trained with different seeds."""
    from models.train import train_recommender, train_risk

    root = tmp_path_factory.mktemp("models")
    train_risk(1, root / "risk-v1", n=2000, epochs=2)
    train_risk(2, root / "risk-v2", n=2000, epochs=2)
    train_recommender(1, root / "rec-v1", n=2000, epochs=2)
    return {"risk-v1": root / "risk-v1", "risk-v2": root / "risk-v2", "rec-v1": root / "rec-v1"}


async def _register(conn: Any, type: str, version: str, folder: Path) -> registry.ModelRecord:
    from models.train import artifact_sha256

    meta = json.loads((folder / "meta.json").read_text())
    return await registry.register(conn, type=type, version=version, path=str(folder),
                                   checksum=artifact_sha256(folder), metrics=meta["metrics"],
                                   created_by=None, feature_schema=meta.get("feature_schema"))


async def test_registry_keeps_one_deployed_per_type_and_rolls_back_in_order(
        migrated_db: str, trained: dict[str, Path]) -> None:
    async with await psycopg.AsyncConnection.connect(migrated_db, autocommit=True) as conn:
        for version, folder in (("v1", "risk-v1"), ("v2", "risk-v2"), ("v3", "risk-v1")):
            await _register(conn, "risk", version, trained[folder])
        with pytest.raises(registry.AlreadyExists):
            await _register(conn, "risk", "v1", trained["risk-v2"])
        v1 = await registry.get(conn, "risk", "v1")
        assert v1 is not None and v1.status == "registered" and v1.metrics["auc"] > 0.5
        for version in ("v1", "v2", "v3"):
            async with conn.transaction():
                await registry.lock_type(conn, "risk")
                await registry.mark_deployed(conn, "risk", version, None)
        statuses = {m.version: m.status for m in await registry.list_models(conn, "risk")}
        assert statuses == {"v1": "retired", "v2": "retired", "v3": "deployed"}
        with pytest.raises(psycopg.errors.UniqueViolation):  # the index, not only the code
            await conn.execute("UPDATE ai_models SET status = 'deployed' WHERE version = 'v1'")
        back = [(await registry.mark_rolled_back(conn, "risk", None)).version for _ in range(2)]
        assert back == ["v2", "v1"]
        with pytest.raises(registry.NotFound):
            await registry.mark_rolled_back(conn, "risk", None)
        assert [(d.action, d.from_version, d.to_version)
                for d in reversed(await registry.history(conn, "risk"))] == [
            ("deploy", None, "v1"), ("deploy", "v1", "v2"), ("deploy", "v2", "v3"),
            ("rollback", "v3", "v2"), ("rollback", "v2", "v1")]


async def test_a_changed_artifact_is_refused(stack: Settings, migrated_db: str,
                                             trained: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    from serve import control

    settings = msgspec.structs.replace(stack, pg_dsn=migrated_db)
    folder = tmp_path / "risk"
    shutil.copytree(trained["risk-v1"], folder)
    async with await psycopg.AsyncConnection.connect(migrated_db, autocommit=True) as conn:
        await _register(conn, "risk", "v1", folder)
        (folder / "meta.json").write_text((folder / "meta.json").read_text() + " ")
        with pytest.raises(control.DeployError, match="checksum"):
            await control.deploy_with(conn, serve_target(settings), "risk", "v1", prefix="never-")
        assert (await registry.get(conn, "risk", "v1")).status == "registered"  # type: ignore[union-attr]
        with pytest.raises(control.DeployError, match="no risk model v9"):
            await control.deploy_with(conn, serve_target(settings), "risk", "v9", prefix="never-")


async def test_a_model_trained_on_other_features_is_never_served(
        stack: Settings, migrated_db: str, trained: dict[str, Path], tmp_path: Path) -> None:
    """Its inputs would mean something else: deploy and rollback refuse it, the registry
    keeps what it had."""
    import shutil

    from models.features import FEATURE_SCHEMA
    from serve import control

    settings = msgspec.structs.replace(stack, pg_dsn=migrated_db)
    old, unrecorded = tmp_path / "old", tmp_path / "unrecorded"
    for folder, schema in ((old, FEATURE_SCHEMA - 1), (unrecorded, None)):
        shutil.copytree(trained["risk-v1"], folder)
        meta = json.loads((folder / "meta.json").read_text())
        meta.pop("feature_schema")
        (folder / "meta.json").write_text(json.dumps(meta | ({} if schema is None else {
            "feature_schema": schema})))
    async with await psycopg.AsyncConnection.connect(migrated_db, autocommit=True) as conn:
        assert (await _register(conn, "risk", "old", old)).feature_schema == FEATURE_SCHEMA - 1
        assert (await _register(conn, "risk", "unrecorded", unrecorded)).feature_schema is None
        with pytest.raises(control.DeployError, match=f"feature schema {FEATURE_SCHEMA - 1}.*"
                                                      f"builds schema {FEATURE_SCHEMA}"):
            await control.deploy_with(conn, serve_target(settings), "risk", "old", prefix="never-")
        with pytest.raises(control.DeployError, match="unrecorded feature schema"):
            await control.deploy_with(conn, serve_target(settings), "risk", "unrecorded",
                                      prefix="never-")
        async with conn.transaction():  # as if deployed before the schema was checked
            await registry.lock_type(conn, "risk")
            await registry.mark_deployed(conn, "risk", "old", None)
            await registry.mark_deployed(conn, "risk", "unrecorded", None)
        with pytest.raises(control.DeployError, match="train it again"):
            await control.rollback_with(conn, serve_target(settings), "risk", prefix="never-")
        assert (await registry.deployed(conn, "risk")).version == "unrecorded"  # type: ignore[union-attr]


class Load:
    """Callers sending requests one after another until stopped; every answer and error kept."""

    def __init__(self, handle: Any, request: dict[str, Any], callers: int) -> None:
        self.handle, self.request = handle, request
        self.versions: list[str] = []
        self.answered_at: list[float] = []
        self.latencies_s: list[float] = []
        self.failures: list[str] = []
        self.stopping = False
        self.tasks = [asyncio.create_task(self._call()) for _ in range(callers)]

    async def _call(self) -> None:
        while not self.stopping:
            try:
                started = time.perf_counter()
                answer = await asyncio.wait_for(self.handle.remote(self.request), 30)
                self.latencies_s.append(time.perf_counter() - started)
                self.answered_at.append(time.monotonic())
                self.versions.append(answer["version"])
            except Exception as exc:
                self.failures.append(repr(exc))

    async def stop(self) -> None:
        self.stopping = True
        await asyncio.gather(*self.tasks)


async def _info(handle: Any) -> dict[str, Any]:
    info: dict[str, Any] = await handle.info.remote()
    return info


async def test_deploy_under_load_drops_nothing_and_rollback_returns(
        stack: Settings, migrated_db: str, trained: dict[str, Path], unique: str) -> None:
    from ray import serve

    from serve import control

    settings = msgspec.structs.replace(stack, pg_dsn=migrated_db)
    prefix = unique + "-"
    try:
        async with await psycopg.AsyncConnection.connect(migrated_db, autocommit=True) as conn:
            await _register(conn, "risk", "v1", trained["risk-v1"])
            await _register(conn, "risk", "v2", trained["risk-v2"])
            await control.deploy_with(conn, serve_target(settings), "risk", "v1", prefix=prefix)
            handle = serve.get_app_handle(prefix + "risk")
            first = await handle.remote(RISK_REQUEST)
            assert first["version"] == "v1" and 0 <= first["probability"] <= 1
            assert len(first["top_features"]) >= 1
            replica = (await _info(handle))["replica"]

            load = Load(handle, RISK_REQUEST, callers=16)
            await asyncio.sleep(1.0)  # requests flowing before the deploy
            started = time.monotonic()
            await control.deploy_with(conn, serve_target(settings), "risk", "v2", prefix=prefix)
            deploy_s = time.monotonic() - started
            await asyncio.sleep(1.0)  # and after it
            await load.stop()
            seen = Counter(load.versions)
            assert load.failures == [], load.failures[:5]
            assert seen["v1"] > 0 and seen["v2"] > 0, seen
            # Requests the old replica held when the deploy returned may still finish on v1;
            # everything asked later is v2.
            late = {v for v, t in zip(load.versions, load.answered_at, strict=True)
                    if t > started + deploy_s + 0.5}
            assert late == {"v2"}
            assert (await _info(handle))["replica"] != replica  # a new replica, the old one drained
            slowest_s = max(load.latencies_s)
            assert (await registry.deployed(conn, "risk")).version == "v2"  # type: ignore[union-attr]

            load = Load(handle, RISK_REQUEST, callers=16)
            await asyncio.sleep(0.5)  # requests flowing before the rollback
            await control.rollback_with(conn, serve_target(settings), "risk", prefix=prefix)
            await asyncio.sleep(0.5)  # and after it
            await load.stop()
            assert load.failures == [], load.failures[:5]
            assert (await handle.remote(RISK_REQUEST))["version"] == "v1"
            assert (await registry.deployed(conn, "risk")).version == "v1"  # type: ignore[union-attr]
            print(f"deploy took {deploy_s:.2f} s; answers per version under load: {dict(seen)};"
                  f" slowest answer during the deploy {slowest_s * 1000:.0f} ms")
    finally:
        for type in control.TYPES:
            try:
                serve.delete(prefix + type)
            except Exception:
                pass


async def test_recommender_answers_with_its_version_batched_or_not(
        stack: Settings, migrated_db: str, trained: dict[str, Path], unique: str) -> None:
    from ray import serve

    from serve import control

    settings = msgspec.structs.replace(stack, pg_dsn=migrated_db)
    prefix = unique + "-"
    try:
        async with await psycopg.AsyncConnection.connect(migrated_db, autocommit=True) as conn:
            await _register(conn, "recommend", "r1", trained["rec-v1"])
            await control.deploy_with(conn, serve_target(settings), "recommend", "r1", prefix=prefix)
            handle = serve.get_app_handle(prefix + "recommend")
            answers = await asyncio.gather(*(handle.remote(RECOMMEND_REQUEST) for _ in range(20)))
            assert {a["version"] for a in answers} == {"r1"}
            assert all(len(a["items"]) == 5 for a in answers)
            assert all(item["needs"] == "none" for a in answers for item in a["items"])
            record = await registry.get(conn, "recommend", "r1")
            assert record is not None
            await asyncio.to_thread(control.apply, "recommend",
                                    {**control.model_config(record), "batching": False},
                                    prefix=prefix)
            info = await _info(handle)
            assert info["config"]["batching"] is False
            assert (await handle.remote(RECOMMEND_REQUEST))["version"] == "r1"
    finally:
        serve.delete(prefix + "recommend")
