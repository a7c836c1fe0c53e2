"""No shell, no network: a scan of the package's syntax trees (function-local imports included).

* Every subprocess call passes an argument list (a list or tuple, written out or bound to a name
  in the same function), never ``shell=True``; ``os.system``, ``os.popen``, ``os.exec*``,
  ``os.spawn*``, ``subprocess.getoutput``... and ``asyncio.create_subprocess_shell`` appear nowhere.
* Network modules (``socket``, ``http.client``, ``urllib.request``, ``requests``, ``urllib3``,
  ``huggingface_hub``...) and the Hugging Face hub loader are used only on the documented paths:
  gs:// and other remote files through Beam's FileSystems (``fileio``), C4 from the Hugging Face
  hub (``sources/c4.py``, ``hf_dataset`` inputs) and Common Crawl's http(s) reader
  (``sources/commoncrawl.py``).

A violation fails the test naming the file, the line and what was found.
"""
from __future__ import annotations

import ast
from pathlib import Path

from helpers import ROOT

PACKAGE = ROOT / "llamacorpus"

NETWORK_MODULES = ("socket", "ssl", "http.client", "http.server", "urllib.request", "urllib3", "requests",
                   "httpx", "aiohttp", "ftplib", "smtplib", "poplib", "imaplib", "telnetlib", "xmlrpc",
                   "socketserver", "webbrowser", "huggingface_hub", "fsspec", "gcsfs", "s3fs", "boto3",
                   "google.cloud", "paramiko", "pycurl", "websocket", "apache_beam.io.filesystems",
                   "apache_beam.io.gcp")
NETWORK_CALLS = ("datasets.load_dataset", "datasets.load_dataset_builder", "datasets.get_dataset_config_names")
#: the documented places where remote reading may happen, and why
ALLOWED = {
    "apache_beam.io.filesystems": {"llamacorpus/fileio.py": "gs:// and other remote paths, through Beam's FileSystems"},
    "apache_beam.io.gcp.gcsio": {"llamacorpus/fileio.py": "gs:// object generations and CRC32C for the reuse fingerprint"},
    "urllib.request": {"llamacorpus/sources/commoncrawl.py": "Common Crawl's http(s) reader"},
    "datasets.load_dataset": {"llamacorpus/sources/c4.py": "C4 from the Hugging Face hub (hf_dataset inputs)"},
}
SHELL_CALLS = ("os.system", "os.popen", "os.execl", "os.execle", "os.execlp", "os.execlpe", "os.execv", "os.execve",
               "os.execvp", "os.execvpe", "os.spawnl", "os.spawnle", "os.spawnlp", "os.spawnlpe", "os.spawnv",
               "os.spawnve", "os.spawnvp", "os.spawnvpe", "os.posix_spawn", "os.posix_spawnp", "pty.spawn",
               "subprocess.getoutput", "subprocess.getstatusoutput", "asyncio.create_subprocess_shell",
               "platform.popen")
SUBPROCESS_CALLS = ("subprocess.run", "subprocess.Popen", "subprocess.call", "subprocess.check_call",
                    "subprocess.check_output", "asyncio.create_subprocess_exec")


def _matches(name: str, prefixes) -> str | None:
    return next((p for p in prefixes if name == p or name.startswith(p + ".")), None)


class _Scan(ast.NodeVisitor):
    def __init__(self, rel: str):
        self.rel = rel
        self.aliases: dict[str, str] = {}  # local name -> dotted name it stands for
        self.found: list[str] = []
        self.scopes: list[ast.AST] = []

    def report(self, node: ast.AST, what: str) -> None:
        self.found.append(f"{self.rel}:{node.lineno}: {what}")

    def allowed(self, name: str) -> bool:
        rule = _matches(name, ALLOWED)
        return rule is not None and self.rel in ALLOWED[rule]

    # -- imports
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname:  # import a.b as c: c is a.b
                self.aliases[alias.asname] = alias.name
            else:  # import a.b: a is a
                self.aliases[alias.name.split(".")[0]] = alias.name.split(".")[0]
            self._check_module(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        for alias in node.names:
            full = f"{module}.{alias.name}" if module else alias.name
            self.aliases[alias.asname or alias.name] = full
            self._check_module(node, full)

    def _check_module(self, node: ast.AST, module: str) -> None:
        network = _matches(module, NETWORK_MODULES)
        if network and not self.allowed(module):
            self.report(node, f"imports {module} (network) outside the documented paths")

    # -- calls
    def dotted(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.dotted(node.value)
            return f"{base}.{node.attr}" if base else None
        return None

    def visit_FunctionDef(self, node) -> None:
        self.scopes.append(node)
        self.generic_visit(node)
        self.scopes.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Call(self, node: ast.Call) -> None:
        name = self.dotted(node.func) or ""
        if _matches(name, SHELL_CALLS):
            self.report(node, f"calls {name} (a shell)")
        elif name in SUBPROCESS_CALLS:
            self._check_subprocess(node, name)
        elif _matches(name, NETWORK_CALLS) and not self.allowed(name):
            self.report(node, f"calls {name} (network) outside the documented paths")
        elif name in ("importlib.import_module", "__import__") and node.args:
            target = node.args[0]
            if isinstance(target, ast.Constant) and isinstance(target.value, str) and \
                    _matches(target.value, NETWORK_MODULES) and not self.allowed(target.value):
                self.report(node, f"imports {target.value} (network) by name")
        self.generic_visit(node)

    def _check_subprocess(self, node: ast.Call, name: str) -> None:
        for keyword in node.keywords:
            if keyword.arg == "shell" and not (isinstance(keyword.value, ast.Constant) and keyword.value.value is False):
                self.report(node, f"{name} with shell={ast.unparse(keyword.value)}")
        args = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "args"), None)
        if name == "asyncio.create_subprocess_exec":
            return  # its arguments are the argument list
        if args is None or not self._is_argument_list(args):
            shown = ast.unparse(args) if args is not None else "nothing"
            self.report(node, f"{name} with {shown}: not an argument list")

    def _is_argument_list(self, node: ast.AST) -> bool:
        if isinstance(node, (ast.List, ast.Tuple, ast.ListComp)):
            return True
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self._is_argument_list(node.left) and self._is_argument_list(node.right)
        if isinstance(node, ast.Name) and self.scopes:  # bound to a list in the same function
            values = [a.value for a in ast.walk(self.scopes[-1]) if isinstance(a, (ast.Assign, ast.AnnAssign))
                      and a.value is not None
                      and any(isinstance(t, ast.Name) and t.id == node.id
                              for t in (a.targets if isinstance(a, ast.Assign) else [a.target]))]
            return bool(values) and all(self._is_argument_list(v) for v in values)
        return False


def scan(source: str, rel: str) -> list[str]:
    visitor = _Scan(rel)
    visitor.visit(ast.parse(source, filename=rel))
    return visitor.found


def test_the_package_runs_no_shell_and_reaches_no_network_outside_its_documented_paths():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 30
    found = []
    for path in files:
        found += scan(path.read_text(encoding="utf-8"), path.relative_to(ROOT).as_posix())
    assert not found, "\n".join(found)


def test_the_scan_finds_each_kind_of_violation():
    source = '''
import socket
import subprocess as sp
from os import system
from urllib.request import urlopen
import datasets

def f(cmd, name):
    system("ls")
    sp.run("ls -l", shell=True)
    sp.Popen(f"echo {name}")
    sp.check_output(cmd)
    args = ["ls", name]
    sp.run(args)
    sp.run(["ls", name], shell=False)
    urlopen("http://example.com")
    datasets.load_dataset("c4", "en")
'''
    found = scan(source, "llamacorpus/steps/example.py")
    assert [f.split(": ", 1)[1] for f in found] == [
        "imports socket (network) outside the documented paths",
        "imports urllib.request.urlopen (network) outside the documented paths",
        "calls os.system (a shell)",
        "subprocess.run with shell=True",
        "subprocess.run with 'ls -l': not an argument list",
        "subprocess.Popen with f'echo {name}': not an argument list",
        "subprocess.check_output with cmd: not an argument list",
        "calls datasets.load_dataset (network) outside the documented paths",
    ]
    assert all(f.startswith("llamacorpus/steps/example.py:") for f in found)
    # the same network use on its documented path passes
    assert scan("from urllib.request import urlopen\n", "llamacorpus/sources/commoncrawl.py") == []
