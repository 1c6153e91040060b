"""Services broken under a running server: a private PostgreSQL cluster restarted
(skipped where initdb/pg_ctl are missing), a private redis-server stopped, a real
Celery worker absent then started. The shared PostgreSQL and Redis of the suite
are never touched."""
