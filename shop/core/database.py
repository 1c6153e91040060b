"""Whether the configured PostgreSQL database answers, said in one sentence."""

from django.conf import settings


def database_problem(alias: str = "default") -> str | None:
    """None when the PostgreSQL database of ``alias`` accepts a connection (within
    3 s); otherwise one sentence naming it and what to do. Asked directly, not
    through the connection pool, whose wait ends in a 10 s timeout that hides the
    cause. Other engines (SQLite) answer None."""
    database = settings.DATABASES[alias]
    if "postgresql" not in database["ENGINE"]:
        return None
    import psycopg

    host = database.get("HOST") or "localhost"
    port = database.get("PORT") or 5432
    try:
        psycopg.connect(
            dbname=database["NAME"],
            host=database.get("HOST") or None,
            port=database.get("PORT") or None,
            user=database.get("USER") or None,
            password=database.get("PASSWORD") or None,
            connect_timeout=3,
        ).close()
        return None
    except psycopg.OperationalError as error:
        reason = (str(error).strip().splitlines() or ["no answer"])[-1].strip()
        if "does not exist" in str(error) and f'"{database["NAME"]}"' in str(error):
            return (
                f"The database {database['NAME']!r} does not exist on {host}:{port} "
                f"(DATABASE_URL): create it first, e.g. createdb -h {host} -p {port} "
                f"-U {database.get('USER') or 'postgres'} {database['NAME']}."
            )
        return f"PostgreSQL at {host}:{port} (DATABASE_URL) does not answer: {reason}"
