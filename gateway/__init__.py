"""Litestar gateway: device ingest WebSocket, REST API."""
