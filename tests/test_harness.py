import psycopg


def test_fixture(database_url, authenticator_url):
    with psycopg.connect(authenticator_url) as c:
        assert c.execute("select current_user").fetchone()[0] == "authenticator"
        c.execute("select set_config('role','authenticated',true)")
        assert c.execute("select requesting_user_id()").fetchone()[0] is None
