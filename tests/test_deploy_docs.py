"""The deployment examples work as written, as far as a test can check without a cluster: the Kubernetes example's
mounts rebuild a loadable project from a ConfigMap whose keys hold no "/", from an image the Dockerfile builds;
and the documentation a clone needs is inside the repository."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import yaml

from trackerbridge.config.project import Project

ROOT = Path(__file__).resolve().parent.parent
CRONJOB = ROOT / "examples" / "kubernetes" / "cronjob.yaml"


def pod_spec() -> dict:
    return yaml.safe_load(CRONJOB.read_text(encoding="utf-8"))["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def configmap_command(text: str) -> list[str]:
    """The `kubectl create configmap` command in a text (or in a YAML file's comments), as words."""
    lines = [line.lstrip("# ").rstrip() for line in text.splitlines()]
    start = next(n for n, line in enumerate(lines) if line.startswith("kubectl create configmap"))
    command = []
    for line in lines[start:]:
        command.append(line.rstrip("\\").strip())
        if not line.endswith("\\"):
            break
    return shlex.split(" ".join(command))


def test_kubernetes_example_mounts_rebuild_the_project(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a user's project: the Jira Cloud example plus a trackerbridge.yaml
    shutil.copytree(ROOT / "examples" / "jira-cloud", source)
    (source / "trackerbridge.yaml").write_text("rules:\n  select: [TB]\n", encoding="utf-8")
    words = configmap_command(CRONJOB.read_text(encoding="utf-8"))
    data = dict(w.removeprefix("--from-file=").split("=", 1) for w in words if w.startswith("--from-file="))
    assert data and not any("/" in key for key in data)  # ConfigMap keys cannot hold "/"
    assert configmap_command((ROOT / "README.md").read_text(encoding="utf-8")) == words  # README shows the same

    spec = pod_spec()
    volumes = {v["name"]: v for v in spec["volumes"]}
    volume = tmp_path / "volume"  # what the kubelet writes for a configMap volume with items
    for item in volumes["project"]["configMap"]["items"]:
        assert item["key"] in data, item
        target = volume / item["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source / data[item["key"]], target)
    (container,) = spec["containers"]
    pod = tmp_path / "pod"
    for mount in container["volumeMounts"]:
        place = pod / mount["mountPath"].lstrip("/")
        if mount["name"] == "project":
            origin = volume / mount.get("subPath", "")
            if origin.is_dir():
                shutil.copytree(origin, place)
            else:
                place.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(origin, place)
        else:
            assert "emptyDir" in volumes[mount["name"]]
            place.mkdir(parents=True)
    project = Project.load(pod / container["workingDir"].lstrip("/"))
    assert list(project.connectors) == ["jira"]
    assert (project.root / ".trackerbridge").is_dir()  # the lock's directory is writable, not the ConfigMap
    assert not any(m["mountPath"] == container["workingDir"] for m in container["volumeMounts"])


def test_kubernetes_example_runs_the_image_built_from_the_dockerfile() -> None:
    spec = pod_spec()
    (container,) = spec["containers"]
    assert not container["image"].startswith("python:")
    assert "pip" not in " ".join(container.get("command", []) + container.get("args", []))
    assert container["args"][0] == "sync"
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r'^ENTRYPOINT \["trackerbridge"\]$', dockerfile, re.MULTILINE)
    assert re.search(r"^WORKDIR /project$", dockerfile, re.MULTILINE)
    assert f"--uid {spec['securityContext']['runAsUser']} " in dockerfile
    for copied in re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile, re.MULTILINE):
        for path in copied.split():
            assert (ROOT / path).exists(), path
    assert "pip install -e" not in dockerfile


def test_documentation_is_inside_the_repository() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "../shared" not in readme and "DESIGN.md" not in readme
    for link in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme):
        if not link.startswith("http"):
            assert (ROOT / link).exists(), link
    for doc in ("docs/architecture.md", "docs/glossary.md", "CONTRIBUTING.md", "CHANGELOG.md"):
        assert f"]({doc})" in readme, doc
    glossary = (ROOT / "docs" / "glossary.md").read_text(encoding="utf-8")
    for word in ("initiative", "integrator", "decide / build / launch", "hand-off", "sunset", "sprawl", "waiver"):
        assert f"**{word}" in glossary, word
    architecture = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for module in re.findall(r"`((?:[a-z_]+/)*[a-z_]+\.py)`", architecture):
        found = list((ROOT / "src" / "trackerbridge").rglob(Path(module).name))
        assert found, module  # every module the architecture names exists
    contributing = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    for topic in ("pytest", "benchmarks/run.py", "sandbox serve", "Adding a rule", "Adding a connector"):
        assert topic in contributing, topic
