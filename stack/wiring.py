"""Builds each process's config from the settings: the one place they are wired together."""

from __future__ import annotations

import msgspec

from actors.shell import ActorConfig
from gateway.app import GatewayConfig
from gateway.internal.app import InternalConfig
from gateway.internal.probes import Targets
from stack.settings import Settings
from streams.app import StreamsConfig


def actor_config(settings: Settings) -> ActorConfig:
    return ActorConfig(kafka=settings.kafka, redis_url=settings.redis_url,
                       redis_prefix=settings.redis_prefix, topic_prefix=settings.topic_prefix,
                       metrics_interval_s=settings.metrics_interval_s,
                       pg_dsn=settings.pg_dsn, keys_dir=str(settings.keys_path))


def gateway_config(settings: Settings) -> GatewayConfig:
    return GatewayConfig(
        pg_dsn=settings.pg_dsn,
        redis_url=settings.redis_url,
        redis_prefix=settings.redis_prefix,
        session_lifetime_s=settings.session_lifetime_s,
        session_idle_s=settings.session_idle_s,
        public_url=settings.public_url or settings.gateway_url,
        tile_url=settings.tile_url,
        oidc_providers=settings.oidc_providers,
        ray_address=settings.ray_address,
        ray_namespace=settings.ray_namespace,
        actor=actor_config(settings),
        placement=settings.placement,
        placement_hosts=settings.placement_hosts,
        warm_hosts=settings.warm_hosts,
        health_probe_s=settings.health_probe_s,
        dev_token="" if settings.dev_token == "off" else settings.dev_token,
        dev_user_id=settings.dev_user_id,
        ingest=msgspec.structs.replace(settings.ingest, allowed_origins=tuple(
            o.strip().rstrip("/") for o in settings.allowed_origins.split(",") if o.strip())),
        quotas=settings.quotas,
        login=settings.login,
        reauth_window_s=settings.reauth_window_s,
        mfa_required_roles=tuple(r.strip() for r in settings.mfa_required_roles.split(",")
                                 if r.strip()),
        access_recheck_s=settings.access_recheck_s,
        trusted_proxies=tuple(p.strip() for p in settings.trusted_proxies.split(",") if p.strip()),
        client_address_header=settings.client_address_header,
        password_hash_threads=settings.password_hash_threads,
        password_hash_queue=settings.password_hash_queue,
        secret_key=settings.secret_key,
        models_cache_dir=str(settings.home_path / "models" / ".cache"),
        export_dir=settings.export_dir or str(settings.home_path / "exports"),
        export_keep_days=settings.export_keep_days,
    )


def internal_config(settings: Settings) -> InternalConfig:
    return InternalConfig(
        pg_dsn=settings.pg_dsn,
        redis_url=settings.redis_url,
        redis_prefix=settings.redis_prefix,
        internal_url=settings.internal_url or settings.internal_gateway_url,
        public_url=settings.public_url or settings.gateway_url,
        ops=Targets(kafka=settings.kafka, worker_group=settings.worker_group,
                    topic_prefix=settings.topic_prefix, gateway_url=settings.gateway_url,
                    worker_url=f"http://127.0.0.1:{settings.worker_web_port}"),
        session_lifetime_s=settings.session_lifetime_s,
        session_idle_s=settings.session_idle_s,
        login=settings.login,
        trusted_proxies=tuple(p.strip() for p in settings.trusted_proxies.split(",") if p.strip()),
        client_address_header=settings.client_address_header,
        password_hash_threads=settings.password_hash_threads,
        password_hash_queue=settings.password_hash_queue,
        ray_address=settings.ray_address,
        ray_namespace=settings.ray_namespace,
        models_cache_dir=str(settings.home_path / "models" / ".cache"),
        adhoc_queries=settings.internal_adhoc_queries,
        introspection=settings.internal_introspection,
        max_depth=settings.internal_max_depth,
        max_tokens=settings.internal_max_tokens,
        max_aliases=settings.internal_max_aliases,
        keys_dir=str(settings.keys_path),
    )


def streams_config(settings: Settings) -> StreamsConfig:
    return StreamsConfig(
        kafka=settings.kafka,
        pg_dsn=settings.pg_dsn,
        data_dir=str(settings.home_path / "faust"),
        redis_url=settings.redis_url,
        redis_prefix=settings.redis_prefix,
        web_port=settings.worker_web_port,
        topic_prefix=settings.topic_prefix,
        app_id=settings.worker_group,
        retention=settings.retention,
        ray_address=settings.ray_address,
        ray_namespace=settings.ray_namespace,
        keys_dir=str(settings.keys_path),
    )
