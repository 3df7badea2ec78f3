# Shared pytest setup. Fixtures live in plugin modules listed here:
# tests/pg.py provides pg_server_url (session) and pg_url (a fresh database per test).
pytest_plugins = ["tests.pg"]
