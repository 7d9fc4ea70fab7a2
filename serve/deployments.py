"""The Serve deployments: injury risk and workout recommendations, one registered version each.

Each is a plain class (`RiskService`, `RecommendService`) with an injected loader, so the
logic runs without a cluster, and a decorator-only Serve subclass (`RiskModel`,
`Recommender`). The model version comes in `user_config` (ModelConfig), which Serve hands to
`reconfigure`: the artifact is staged, checked against its checksum and loaded off the event
loop, then one reference swap makes it current, so a batch always runs on one version and every
answer says which version produced it. serve/control.py rolls a new version out as a new
replica that starts next to the old one (see `_REPLICA`), so no request is dropped.

Requests and answers are plain dicts at this boundary (msgspec.convert / to_builtins).
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Generic, TypeVar

import msgspec
from ray import serve

from serve import artifacts

MAX_BATCH = 64


class ModelConfig(msgspec.Struct, frozen=True, kw_only=True):
    """A deployment's `user_config`: which artifact to serve, and how to batch."""

    version: str
    path: str
    """Local artifact folder or fsspec URL."""
    checksum: str
    batching: bool = True
    """False answers each request alone (to measure what batching buys)."""
    max_batch_size: Annotated[int, msgspec.Meta(ge=1, le=MAX_BATCH)] = 32
    batch_wait_timeout_s: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.002


class NotReady(Exception):
    """No model version has been configured yet."""


M = TypeVar("M")
In = TypeVar("In", bound=msgspec.Struct)


class _Loaded(Generic[M]):
    __slots__ = ("version", "model")

    def __init__(self, version: str, model: M) -> None:
        self.version, self.model = version, model


class _VersionedService(Generic[M, In]):
    """Holds the current (version, model) pair and answers single or batched requests."""

    request_type: type[In]

    def __init__(self, loader: Callable[[Path], M]) -> None:
        self._loader = loader
        self._current: _Loaded[M] | None = None
        self._config: ModelConfig | None = None

    async def reconfigure(self, user_config: dict[str, Any]) -> None:
        config = msgspec.convert(user_config, ModelConfig)
        if self._config is None or (config.version, config.checksum) != (
                self._config.version, self._config.checksum):
            model = await asyncio.to_thread(self._load, config)
            self._current = _Loaded(config.version, model)  # the one switch point
        self._config = config
        self.batched.set_max_batch_size(config.max_batch_size)
        self.batched.set_batch_wait_timeout_s(config.batch_wait_timeout_s)

    def _load(self, config: ModelConfig) -> M:
        return self._loader(artifacts.stage(config.path, config.checksum))

    @property
    def version(self) -> str | None:
        return None if self._current is None else self._current.version

    async def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        item = msgspec.convert(request, self.request_type)
        if self._config is not None and not self._config.batching:
            return (await self._run([item]))[0]
        return await self.batched(item)

    async def info(self) -> dict[str, Any]:
        """The configured version and batching, for `stride models` status."""
        return {"version": self.version, "replica": _replica_id(),
                "config": None if self._config is None else msgspec.to_builtins(self._config)}

    @serve.batch(max_batch_size=MAX_BATCH, batch_wait_timeout_s=0.002)
    async def batched(self, items: list[In]) -> list[dict[str, Any]]:
        return await self._run(items)

    async def _run(self, items: list[In]) -> list[dict[str, Any]]:
        current = self._current
        if current is None:
            raise NotReady("no model version configured")
        answers = await asyncio.to_thread(self.predict, current.model, items)
        return [{"version": current.version, **answer} for answer in answers]

    @abc.abstractmethod
    def predict(self, model: M, items: list[In]) -> list[dict[str, Any]]:
        """The model's answers for a batch (each service knows its model)."""


def _replica_id() -> str | None:
    """This replica's id: the same id before and after a deploy shows it was updated in place."""
    try:
        return str(serve.get_replica_context().replica_id.unique_id)
    except Exception:  # not running under Serve (unit tests)
        return None


def _load_risk(path: Path) -> Any:
    from models.risk import RiskPredictor

    return RiskPredictor.load(path)


def _load_recommender(path: Path) -> Any:
    from models.recommend import Recommender as RecommenderModel

    return RecommenderModel.load(path)


def _risk_input() -> type[msgspec.Struct]:
    from models.features import RiskFeatures

    return RiskFeatures


def _recommend_input() -> type[msgspec.Struct]:
    from models.features import RecommendInput

    return RecommendInput


class RiskService(_VersionedService[Any, Any]):
    """`{RiskFeatures fields}` → `{"version", "probability", "top_features": [[name, weight]…]}`."""

    def __init__(self, loader: Callable[[Path], Any] = _load_risk) -> None:
        super().__init__(loader)
        self.request_type = _risk_input()

    def predict(self, model: Any, items: list[Any]) -> list[dict[str, Any]]:
        return [{"probability": p.probability, "top_features": [list(f) for f in p.top_features]}
                for p in model.predict(items)]


class RecommendService(_VersionedService[Any, Any]):
    """`{RecommendInput fields}` → `{"version", "items": [Recommendation…]}` (best first, 5)."""

    k = 5

    def __init__(self, loader: Callable[[Path], Any] = _load_recommender) -> None:
        super().__init__(loader)
        self.request_type = _recommend_input()

    def predict(self, model: Any, items: list[Any]) -> list[dict[str, Any]]:
        return [{"items": msgspec.to_builtins(recs)} for recs in model.recommend(items, k=self.k)]


_REPLICA = {"num_replicas": 1, "max_ongoing_requests": 2 * MAX_BATCH,
            "ray_actor_options": {"num_cpus": 0.5},
            # A new version rolls out as new replicas: each starts (and loads its model) next to
            # the one it replaces, takes traffic once healthy, and the old one stops only after
            # finishing what it holds. Serve's default surge of 0 stops the old one first, so
            # with one replica every request would wait for the new one to start.
            "max_surge_percent": 100,
            "graceful_shutdown_wait_loop_s": 0.5, "graceful_shutdown_timeout_s": 30.0}


@serve.deployment(**_REPLICA)  # type: ignore[arg-type]
class RiskModel(RiskService):
    pass


@serve.deployment(**_REPLICA)  # type: ignore[arg-type]
class Recommender(RecommendService):
    pass
