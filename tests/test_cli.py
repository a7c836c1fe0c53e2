"""The command line refuses what it does not know before anything runs: mistyped flags, outputs it
cannot write, bad bucket names, --set values that are not YAML; it warns about costly Dataflow
settings; ``python -m llamacorpus`` and ``--version`` work."""
import os
import subprocess
import sys

import apache_beam
import pytest
import yaml

from helpers import FIXTURES, ROOT
from llamacorpus import __version__, cli
from llamacorpus.pipeline import options
from llamacorpus.pipeline.run import main

DATAFLOW = ["--runner", "DataflowRunner", "--project", "llamacorpus-test", "--region", "us-central1",
            "--temp_location", "gs://llamacorpus-test/tmp"]


@pytest.fixture
def recipe(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump({
        "input_root": str(FIXTURES), "output": str(tmp_path / "out"), "run": ["c4"],
        "sources": {"c4": {"inputs": ["c4/*.json.gz"]}}, "mixture": {"enabled": False}}))
    return path


@pytest.mark.parametrize("typo, meant", [
    ("--dry-run", "--dry_run"), ("--dryrun", "--dry_run"), ("--runer=DataflowRunner", "--runner"),
    ("--direct-num-workers", "--direct_num_workers"), ("--overwrit", "--overwrite"),
    ("--temp-location", "--temp_location"),
])
def test_mistyped_flag_is_refused_with_the_close_match(recipe, tmp_path, capsys, typo, meant):
    assert main(["--recipe", str(recipe), "--stages", "documents", typo]) == 2
    err = capsys.readouterr().err
    assert f"error: {typo.split('=')[0]} is neither a flag of llamacorpus run nor a Beam pipeline option" in err
    assert f"(did you mean {meant}?)" in err
    assert not (tmp_path / "out").exists()  # nothing ran


def test_beam_options_pass_and_their_bad_values_are_refused(recipe, tmp_path, capsys):
    args, beam_args = options.parse(["--recipe", str(recipe), "--direct_num_workers", "2",
                                     "--direct_running_mode=multi_processing", "--experiments", "a", "--dry_run"])
    assert args.dry_run and beam_args == ["--direct_num_workers", "2", "--direct_running_mode=multi_processing",
                                          "--experiments", "a"]
    assert main(["--recipe", str(recipe), "--direct_num_workers", "two"]) == 2
    assert "error: Beam pipeline option: argument --direct_num_workers: invalid int value: 'two'" in capsys.readouterr().err
    assert main(["--recipe", str(recipe), "stray"]) == 2
    assert "unexpected argument 'stray'" in capsys.readouterr().err
    assert main(["--recipe", str(recipe), "--stages", "documents,shards"]) == 2
    assert "--stages: unknown stage(s) shards" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("dry_run", [[], ["--dry_run"]])
def test_output_that_cannot_be_a_directory_fails_before_the_run(recipe, tmp_path, capsys, dry_run):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    assert main(["--recipe", str(recipe), "--output", str(a_file), *dry_run]) == 2
    assert f"error: --output: {a_file} is a file, not a directory" in capsys.readouterr().err
    assert main(["--recipe", str(recipe), "--output", str(a_file / "out"), *dry_run]) == 2
    assert f"cannot be a directory: {a_file} is a file" in capsys.readouterr().err
    assert a_file.read_text() == "not a directory"


def test_unwritable_output_fails_before_the_run(recipe, capsys):
    # /proc refuses new files to every user, root included (a chmod'ed directory does not stop root)
    assert main(["--recipe", str(recipe), "--output", "/proc/llamacorpus-out", "--dry_run"]) == 2
    assert "error: --output: /proc/llamacorpus-out is not writable (/proc:" in capsys.readouterr().err


@pytest.mark.parametrize("bucket", ["Uppercase_Bucket", "ab", "my..bucket", "192.168.0.1", "googlecorpus", "-dash"])
def test_invalid_temp_location_bucket_is_an_immediate_error(recipe, capsys, bucket):
    argv = ["--recipe", str(recipe), "--dry_run", *DATAFLOW, "--temp_location", f"gs://{bucket}/tmp",
            "--sdk_container_image", "example/llamacorpus:0.1.0"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"error: --temp_location gs://{bucket}/tmp: " in err and repr(bucket) in err
    assert options.bucket_name_problem("llamacorpus-test.example_1") is None


def test_dataflow_without_worker_image_warns(recipe, capsys):
    assert main(["--recipe", str(recipe), "--stages", "documents", "--dry_run", *DATAFLOW]) == 0
    captured = capsys.readouterr()
    assert "warning: DataflowRunner without --sdk_container_image: every worker compiles fasttext and kenlm" in captured.err
    assert options.README_WORKER_IMAGE in captured.err
    assert "for DataflowRunner is valid" in captured.out


def test_launcher_warns_when_its_versions_differ_from_the_worker_image():
    beam, python = options.worker_versions()
    assert options.image_mismatch(beam, f"{python}.4") == []
    found = options.image_mismatch("2.70.0", "3.12.1")
    assert len(found) == 2 and "apache-beam 2.70.0" in found[0] and f"has {beam}" in found[0]
    assert "Python 3.12.1" in found[1] and f"Python {python}" in found[1]
    # the launcher checks its own versions against the image only when one is given
    opts = options.pipeline_options([*DATAFLOW, "--sdk_container_image", "x/llamacorpus:0.1.0"])
    expected = options.image_mismatch(apache_beam.__version__, sys.version.split()[0])
    assert options.preflight(opts, "gs://llamacorpus-test/out") == expected


def test_set_value_that_is_not_yaml_is_named(recipe, capsys):
    assert main(["--recipe", str(recipe), "--set", "sources.c4.min_chars=[1,"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --set sources.c4.min_chars=[1,: the value is not valid YAML")
    assert "Traceback" not in err
    assert main(["--recipe", str(recipe), "--set", "sources.c4.min_chars"]) == 2
    assert "error: --set sources.c4.min_chars: must look like KEY=VALUE" in capsys.readouterr().err


def test_recipe_by_bundled_name_or_path(recipe, capsys):
    from llamacorpus.config import ConfigError, bundled_recipes, recipe_path

    assert recipe_path("llama1") == recipe_path("llama1.yaml") == bundled_recipes()["llama1"]
    assert recipe_path("llama1").endswith("llamacorpus/recipes/llama1.yaml")
    assert recipe_path(str(recipe)) == str(recipe)
    with pytest.raises(ConfigError, match=r"recipe 'llama2' is neither a file nor a bundled recipe \(bundled: llama1\)"):
        recipe_path("llama2")
    assert main(["--recipe", "llama1", "--sources", "c4", "--input_root", str(FIXTURES), "--dry_run"]) == 0
    assert "for FnApiRunner is valid" in capsys.readouterr().out


def test_python_m_llamacorpus_and_version():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "llamacorpus", "--version"], capture_output=True, text=True,
                          env=env, cwd="/", timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == cli.version()
    assert cli.version().startswith(f"llamacorpus {__version__} (apache-beam {apache_beam.__version__}, Python 3.")
    done = subprocess.run([sys.executable, "-m", "llamacorpus", "run", "--dry-run"], capture_output=True,
                          text=True, env=env, cwd="/", timeout=300)
    assert done.returncode == 2 and "did you mean --dry_run?" in done.stderr
