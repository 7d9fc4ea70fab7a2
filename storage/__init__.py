"""PostgreSQL schema, migrations and repositories (plain SQL over psycopg 3)."""
