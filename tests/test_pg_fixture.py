import psycopg


def test_pg_url_is_a_fresh_durable_database(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT current_database()").fetchone()[0] == pg_url.rsplit("/", 1)[1]
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == (0,)
        conn.execute("CREATE TABLE claims (id int PRIMARY KEY, mwh numeric NOT NULL)")
        conn.execute("INSERT INTO claims VALUES (1, 1.5), (2, 2.25)")
        conn.commit()
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT id, mwh::text FROM claims ORDER BY id").fetchall()
        assert rows == [(1, "1.5"), (2, "2.25")]
        # Durability tests rely on a server that really syncs its writes.
        assert conn.execute("SHOW fsync").fetchone() == ("on",)
        assert conn.execute("SHOW synchronous_commit").fetchone() == ("on",)
