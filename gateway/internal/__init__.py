"""The internal gateway: the admin and ML areas, on a listener of their own.

A separate Litestar app (`gateway.internal.app:create_app`), served as the stack process
`internal` on its own port, bound where operators reach it and never where the public
gateway is. It shares the database, Redis and the web bundle with the public gateway but
not its sessions: only admins and ML engineers sign in here, with TOTP, and the sessions
minted here (audience `internal`) work here alone, as public ones work only there
(gateway/auth.py). Its API is GraphQL (`/graphql`, gateway/internal/graphql_api.py) with a
role check on every field (gateway/internal/permissions.py), persisted queries, depth, token
and alias limits, and an audit row for every change (gateway/internal/audit_trail.py).
"""
