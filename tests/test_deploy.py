"""deploy/: the systemd units, the Dockerfile and compose file are valid and agree with the code they run.

hadolint and a Docker daemon are not available offline, so the Dockerfile gets a structural lint here
(plus `docker build --check` where a daemon answers); the units get `systemd-analyze verify` where
systemd is installed and a parser check everywhere.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import yaml

from jaicat.cli.main import build_parser
from jaicat.config import CONFIG_KEYS, Settings, load_settings
from jaicat.models.sysinfo import gpu_report

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
UNITS = {"system": DEPLOY / "systemd" / "jaicat.service", "user": DEPLOY / "systemd" / "jaicat-user.service"}
JAICAT_BIN = Path(sys.executable).parent / "jaicat"


# systemd ------------------------------------------------------------------------------------------
def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """systemd unit syntax: [Section], Key=Value (keys may repeat), '#'/';' comments, '\\' continuation."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    lines = iter(text.splitlines())
    for raw in lines:
        line = raw.strip()
        while line.endswith("\\"):
            line = line[:-1] + " " + next(lines).strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            assert line.endswith("]"), raw
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None and "=" in line, f"not Key=Value inside a section: {raw!r}"
        key, value = (s.strip() for s in line.split("=", 1))
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", key), key
        current.setdefault(key, []).append(value)
    return sections


@pytest.mark.parametrize("kind", UNITS)
def test_unit_runs_serve_with_a_config_restarts_and_logs_to_the_journal(kind):
    unit = parse_unit(UNITS[kind].read_text())
    assert set(unit) == {"Unit", "Service", "Install"}
    svc = unit["Service"]
    (cmd,) = svc["ExecStart"]
    exe, *argv = cmd.split()
    assert exe.endswith("/bin/jaicat")
    config = argv[argv.index("--config") + 1]
    assert config == ("/etc/jaicat/jaicat.toml" if kind == "system" else "%h/.config/jaicat/jaicat.toml")
    args = build_parser().parse_args(argv)  # the command line is one our CLI accepts, and it is serve
    assert args.command == "serve" and args.config == config
    assert svc["Restart"] == ["on-failure"] and svc["StandardOutput"] == ["journal"]
    assert svc["StandardError"] == ["journal"]
    env = dict(e.split("=", 1) for e in svc["Environment"])
    assert set(k[len("JAICAT_"):].lower() for k in env if k.startswith("JAICAT_")) <= set(CONFIG_KEYS)
    assert unit["Install"]["WantedBy"] == (["multi-user.target"] if kind == "system" else ["default.target"])
    if kind == "system":
        assert svc["User"] == ["jaicat"] and svc["StateDirectory"] == ["jaicat"]
        assert env["JAICAT_DATA_DIR"] == "/var/lib/jaicat"


def test_backup_unit_and_timer():
    unit = parse_unit((DEPLOY / "systemd" / "jaicat-backup.service").read_text())
    svc = unit["Service"]
    assert svc["Type"] == ["oneshot"] and svc["User"] == ["jaicat"]
    exe, *argv = svc["ExecStart"][0].split()
    args = build_parser().parse_args(argv)
    assert args.command == "backup" and args.keep >= 1 and args.config == "/etc/jaicat/jaicat.toml"
    assert args.dest in svc["ExecStartPre"][0]  # the folder is created before the backup runs
    timer = parse_unit((DEPLOY / "systemd" / "jaicat-backup.timer").read_text())
    assert timer["Timer"]["Persistent"] == ["true"] and timer["Install"]["WantedBy"] == ["timers.target"]


VERIFY = {"system": ["jaicat.service"], "user": ["jaicat-user.service"],
          "backup": ["jaicat-backup.service", "jaicat-backup.timer"],
          "ray": ["jaicat-ray-head.service", "jaicat-ray-worker.service"]}


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
@pytest.mark.parametrize("kind", VERIFY)
def test_systemd_analyze_verify(kind, tmp_path):
    files = []
    for name in VERIFY[kind]:
        text = (DEPLOY / "systemd" / name).read_text()
        # verify checks that the command exists: point it at this environment's jaicat
        text = re.sub(r"^ExecStart=\S+", f"ExecStart={JAICAT_BIN}", text, flags=re.M)
        target = tmp_path / name.replace("jaicat-user", "jaicat")
        target.write_text(text)
        files.append(str(target))
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    cmd = ["systemd-analyze", *(["--user"] if kind == "user" else []), "verify", *files]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)})
    # verify exits 0 even for unknown keys or bad values; it reports them on stderr against the file
    complaints = [ln for ln in res.stderr.splitlines() if any(f in ln for f in files)]
    assert res.returncode == 0 and not complaints, res.stderr


# Dockerfile ---------------------------------------------------------------------------------------
INSTRUCTIONS = {"FROM", "ARG", "ENV", "RUN", "COPY", "ADD", "WORKDIR", "USER", "VOLUME", "EXPOSE", "HEALTHCHECK",
                "ENTRYPOINT", "CMD", "LABEL", "SHELL", "STOPSIGNAL", "ONBUILD"}


def parse_dockerfile(text: str) -> list[tuple[str, str, int]]:
    """(INSTRUCTION, arguments, line) with continuations joined and comment lines dropped."""
    out, buf, start = [], "", 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):  # comments inside a continued instruction are skipped
            continue
        if not buf:
            start = n
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        word, _, rest = buf.partition(" ")
        out.append((word.upper(), rest.strip(), start))
        buf = ""
    assert not buf, "Dockerfile ends inside a continued line"
    return out


@pytest.fixture(scope="module")
def dockerfile():
    return parse_dockerfile((DEPLOY / "Dockerfile").read_text())


def _stages(ins):
    stages, current = [], None
    for word, args, line in ins:
        if word == "FROM":
            parts = args.split()
            current = {"image": parts[0], "name": parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None,
                       "ins": []}
            stages.append(current)
        elif current is not None:
            current["ins"].append((word, args, line))
    return stages


def _defaults(ins) -> dict[str, str]:
    out = {}
    for word, args, _ in ins:
        if word == "ARG" and "=" in args:
            k, v = args.split("=", 1)
            out[k] = v
    return out


def test_dockerfile_is_well_formed(dockerfile):
    assert all(word in INSTRUCTIONS for word, _, _ in dockerfile), [w for w, _, _ in dockerfile]
    first_from = next(i for i, (w, _, _) in enumerate(dockerfile) if w == "FROM")
    assert all(w == "ARG" for w, _, _ in dockerfile[:first_from])  # only ARGs may precede FROM
    global_args = _defaults(dockerfile[:first_from])
    stages = _stages(dockerfile)
    names = [s["name"] for s in stages if s["name"]]
    assert len(names) == len(set(names))
    for s in stages:
        image = re.sub(r"\$\{(\w+)\}", lambda m: global_args[m.group(1)], s["image"])  # KeyError: undeclared
        assert ":" in image and not image.endswith(":latest"), f"unpinned base image {image}"
        for word, args, line in s["ins"]:
            if word in ("ENTRYPOINT", "CMD") or (word == "HEALTHCHECK" and "CMD [" in args):
                json.loads(args[args.index("["):])  # exec form: valid JSON, so signals reach the process
            if word == "RUN" and "apt-get install" in args:
                assert "apt-get update" in args and "--no-install-recommends" in args, line
                assert "rm -rf /var/lib/apt/lists/*" in args, line
            if word == "COPY" and args.startswith("--from="):
                assert args.split()[0][len("--from="):] in names, line


def test_dockerfile_runtime_is_cuda_with_pinned_cuda_torch(dockerfile):
    first_from = next(i for i, (w, _, _) in enumerate(dockerfile) if w == "FROM")
    global_args = _defaults(dockerfile[:first_from])
    final = _stages(dockerfile)[-1]
    image = re.sub(r"\$\{(\w+)\}", lambda m: global_args[m.group(1)], final["image"])
    assert re.fullmatch(r"nvidia/cuda:12\.\d+\.\d+-cudnn-runtime-ubuntu2[24]\.04", image), image
    args = _defaults(final["ins"])
    makefile_pin = re.search(r"^TORCH\s*\?=\s*(\S+)", (REPO / "Makefile").read_text(), re.M).group(1)
    assert args["TORCH_SPEC"] == makefile_pin == "torch==2.13.0"
    assert re.fullmatch(r"https://download\.pytorch\.org/whl/cu12\d", args["TORCH_INDEX"])
    runs = [a for w, a, _ in final["ins"] if w == "RUN"]
    torch_run = next(r for r in runs if "TORCH_SPEC" in r)
    assert '--index-url "${TORCH_INDEX}"' in torch_run
    project_run = next(i for i, r in enumerate(runs) if "pip install --no-cache-dir \"/opt/jaicat-src[ray]\"" in r)
    assert runs.index(torch_run) < project_run  # CUDA torch first: the project must not pull the CPU one


def test_dockerfile_volumes_user_port_and_command(dockerfile):
    final = _stages(dockerfile)[-1]["ins"]
    words = [w for w, _, _ in final]
    volumes = json.loads(next(a for w, a, _ in final if w == "VOLUME"))
    assert volumes == ["/data", "/library"]
    env = " ".join(a for w, a, _ in final if w == "ENV")
    settings = load_settings(env=dict(re.findall(r"(JAICAT_\w+)=(\S+)", env)))
    assert str(settings.data_dir) == "/data" and str(settings.library) == "/library"
    assert str(settings.pwa_dir) == "/opt/jaicat-src/pwa"
    user = next(a for w, a, _ in final if w == "USER")
    assert user not in ("root", "0") and words.index("USER") < words.index("ENTRYPOINT")
    assert next(a for w, a, _ in final if w == "EXPOSE") == str(Settings().port)
    entry = json.loads(next(a for w, a, _ in final if w == "ENTRYPOINT"))
    cmd = json.loads(next(a for w, a, _ in final if w == "CMD"))
    assert entry[-1] == "jaicat" and build_parser().parse_args(cmd).command == "serve"
    ignored = [p.strip() for p in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
               if p.strip() and not p.startswith("#")]
    for w, a, line in final:
        if w == "COPY" and not a.startswith("--from"):
            for src in a.split()[:-1]:
                assert (REPO / src).exists(), f"line {line}: {src} is not in the build context"
                assert src.split("/")[0] not in ignored, f"line {line}: {src} is excluded by the dockerignore"


def _docker_daemon() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(not _docker_daemon(), reason="no Docker daemon")
def test_docker_build_check():
    res = subprocess.run(["docker", "build", "--check", "-f", str(DEPLOY / "Dockerfile"), str(REPO)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr


def test_compose_gives_the_gpu_host_network_and_volumes():
    doc = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    svc = doc["services"]["jaicat"]
    assert svc["network_mode"] == "host"
    (dev,) = svc["deploy"]["resources"]["reservations"]["devices"]
    assert dev["driver"] == "nvidia" and "gpu" in dev["capabilities"]
    assert (DEPLOY / svc["build"]["context"] / svc["build"]["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    targets = {v.rsplit(":", 1)[-1] for v in svc["volumes"]}
    assert targets == {"/data", "/library", "/backups"}
    assert svc["environment"]["JAICAT_DATA_DIR"] == "/data"
    assert build_parser().parse_args(svc["command"]).command == "serve"
    assert svc["restart"] in ("unless-stopped", "always", "on-failure")


def _ray_start_options() -> set[str]:
    ray_bin = Path(sys.executable).parent / "ray"
    if not ray_bin.exists():
        pytest.skip("Ray is not installed (pip install '.[ray]')")
    res = subprocess.run([str(ray_bin), "start", "--help"], capture_output=True, text=True, timeout=120)
    return set(re.findall(r"(--[a-z][a-z0-9-]+)", res.stdout))


def test_ray_units_start_a_head_on_the_server_and_a_worker_on_the_gpu_pc():
    options = _ray_start_options()
    head = parse_unit((DEPLOY / "systemd" / "jaicat-ray-head.service").read_text())["Service"]
    worker = parse_unit((DEPLOY / "systemd" / "jaicat-ray-worker.service").read_text())["Service"]
    example = dict(line.split("=", 1) for line in (DEPLOY / "ray.env.example").read_text().splitlines()
                   if line and not line.startswith("#"))
    for svc, role in ((head, "--head"), (worker, "--address=${RAY_HEAD_IP}:6379")):
        exe, sub, *argv = svc["ExecStart"][0].split()
        assert exe == "/opt/jaicat/venv/bin/ray" and sub == "start" and role in argv and "--block" in argv
        assert {a.split("=")[0] for a in argv} <= options  # every flag is one this Ray accepts
        assert svc["EnvironmentFile"] == ["/etc/jaicat/ray.env"] and svc["User"] == ["jaicat"]
        # the ${VAR}s the command line uses come from the unit or /etc/jaicat/ray.env
        env = {**dict(e.split("=", 1) for e in svc["Environment"]), **example}
        assert set(re.findall(r"\$\{(\w+)\}", svc["ExecStart"][0])) <= set(env)
        assert env["RAY_AUTH_MODE"] == "token" and env["RAY_AUTH_TOKEN_PATH"] == "/etc/jaicat/ray-auth-token"
    worker_env = dict(e.split("=", 1) for e in worker["Environment"])
    assert worker_env["JAICAT_MODELS_DIR"] == "/var/lib/jaicat/models"  # read by pipeline/cluster.py
    server = parse_unit(UNITS["system"].read_text())["Service"]
    assert server["EnvironmentFile"] == ["-/etc/jaicat/ray.env"]  # the server's driver gets the token too
    example_config = load_settings(data_dir="/tmp/x", env={}, ray_address=f"{example['RAY_HEAD_IP']}:6379")
    assert example_config.ray_address.endswith(":6379")


def test_compose_ray_worker_joins_the_head_with_the_gpu():
    options = _ray_start_options()
    doc = yaml.safe_load((DEPLOY / "compose.ray-worker.yaml").read_text())
    (svc,) = doc["services"].values()
    assert svc["network_mode"] == "host" and svc["entrypoint"][-1] == "ray"
    assert svc["command"][0] == "start" and svc["command"][1].startswith("--address=${JAICAT_RAY_HEAD")
    assert {a.split("=")[0] for a in svc["command"][1:]} <= options
    assert svc["environment"]["JAICAT_MODELS_DIR"] == "/models" and svc["environment"]["RAY_AUTH_MODE"] == "token"
    assert any(v.endswith(":/models") for v in svc["volumes"])
    (gpu,) = svc["deploy"]["resources"]["reservations"]["devices"]
    assert gpu["driver"] == "nvidia" and "gpu" in gpu["capabilities"]
    assert '"/opt/jaicat-src[ray]"' in (DEPLOY / "Dockerfile").read_text()  # the image has Ray


def test_example_config_is_valid(tmp_path):
    s = load_settings(data_dir=tmp_path, config_file=DEPLOY / "jaicat.toml.example", env={})
    assert str(s.library) == "/srv/photos" and s.https is True


def test_readme_documents_every_ops_command():
    text = (DEPLOY / "README.md").read_text()
    for needle in ("jaicat backup", "jaicat restore", "--force", "--with-library", "--no-thumbs", "--keep",
                   "jaicat-backup.timer",
                   "jaicat xmp write", "--all", "jaicat models pull", "jaicat doctor", "systemctl",
                   "journalctl", "docker compose", "nvidia-ctk", "exiftool",
                   "jaicat-ray-head.service", "jaicat-ray-worker.service", "compose.ray-worker.yaml",
                   "ray.env.example", "ray_address", "--ray local", "JAICAT_MODELS_DIR"):
        assert needle in text, needle


# healthcheck and doctor -----------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_healthcheck_script(tmp_path):
    class Health(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200 if self.path == "/api/health" else 404)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *a):
            pass

    port = _free_port()
    script = [sys.executable, str(DEPLOY / "healthcheck.py")]
    env = {**os.environ, "JAICAT_PORT": str(port)}
    assert subprocess.run(script, env=env, timeout=30).returncode == 1  # nothing listening
    server = HTTPServer(("127.0.0.1", port), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert subprocess.run(script, env=env, timeout=30).returncode == 0
    finally:
        server.shutdown()


def test_gpu_report_says_what_torch_and_dlib_can_use():
    import dlib
    import torch

    r = gpu_report()
    assert r["torch"] == torch.__version__
    assert r["cuda_available"] is torch.cuda.is_available() and r["gpu_used"] is r["cuda_available"]
    assert (r["device_name"] is None) is (not r["cuda_available"])
    assert r["dlib_cuda"] is bool(dlib.DLIB_USE_CUDA)
    assert r["dlib"] and r["pillow_heif"] and r["annoy"]
    json.dumps(r)  # doctor --json prints it
