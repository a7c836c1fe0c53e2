"""An install that fits the job: the pipeline without torch or the Google Cloud clients, extras for
them, the Beam version of pyproject equal to the Dataflow worker image's, recipes inside the wheel."""
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile

import apache_beam

from helpers import ROOT
from llamacorpus import __version__
from llamacorpus.pipeline import options

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def requirement(spec: str) -> tuple[str, str, str]:
    """``"apache-beam[gcp]==2.77.0"`` -> ("apache-beam", "gcp", "==2.77.0")."""
    found = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[([^\]]*)\])?\s*(.*)", spec)
    return found.group(1).lower(), found.group(2) or "", found.group(3)


def test_core_dependencies_leave_out_torch_and_google_cloud():
    core = [requirement(s) for s in PYPROJECT["project"]["dependencies"]]
    names = {name for name, _, _ in core}
    assert "torch" not in names and not any(name.startswith("google") for name in names)
    assert ("apache-beam", "", options.worker_versions()[0].join(["==", ""])) in core  # no [gcp] extra
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert [requirement(s) for s in extras["train"]] == [("torch", "", "==2.13.0")]
    assert [requirement(s) for s in extras["dataflow"]] == [("apache-beam", "gcp", f"=={options.worker_versions()[0]}")]
    assert "pytest" in {requirement(s)[0] for s in extras["test"]}


def test_beam_version_of_pyproject_equals_the_worker_image_tag():
    base = re.search(r"^FROM\s+(\S+)", DOCKERFILE, re.M).group(1)
    assert base == options.WORKER_IMAGE
    beam, python = options.worker_versions(base)
    pinned = {requirement(s)[2] for s in PYPROJECT["project"]["dependencies"] if requirement(s)[0] == "apache-beam"}
    assert pinned == {f"=={beam}"}
    assert apache_beam.__version__ == beam, "this environment's Beam differs from pyproject's pin"
    assert PYPROJECT["project"]["requires-python"] == ">=3.11" and python == "3.11"


def test_worker_image_installs_the_dataflow_extra_without_torch():
    assert "torch" not in DOCKERFILE.split("FROM", 1)[1].replace("without torch", "")
    assert "pip install --no-cache-dir '/opt/llamacorpus[dataflow]'" in DOCKERFILE


def test_make_install_installs_every_extra_with_torch_first():
    makefile = (ROOT / "Makefile").read_text()
    torch_line = makefile.index("pip install torch==2.13.0")
    package_line = makefile.index("pip install -e '.[dataflow,train,test]'")
    assert torch_line < package_line
    assert "RECIPE ?= llama1" in makefile


def test_the_pipeline_imports_without_torch():
    code = ("import sys, llamacorpus.cli, llamacorpus.pipeline.run, llamacorpus.pipeline.mix, llamacorpus.report; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd="/")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_no_module_imports_google_cloud_itself():
    """gs:// goes through Beam's FileSystems and gcsio (the dataflow extra), imported where used."""
    import ast

    for path in (ROOT / "llamacorpus").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.split(".")[0] == "google" for n in names), f"{path}: imports {names}"


def test_wheel_holds_the_recipes_and_resources(tmp_path):
    source = tmp_path / "source"  # a copy: building in place would leave build/ and egg-info in the tree
    shutil.copytree(ROOT / "llamacorpus", source / "llamacorpus", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path / "dist"), str(source)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    wheel = next((tmp_path / "dist").glob("llamacorpus-*.whl"))
    assert wheel.name.startswith(f"llamacorpus-{__version__}-")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "llamacorpus/recipes/llama1.yaml" in names and "llamacorpus/__main__.py" in names
    assert "llamacorpus/resources/lid.176.ftz" in names
    assert not any(name.startswith(("tests/", "recipes/")) for name in names)
