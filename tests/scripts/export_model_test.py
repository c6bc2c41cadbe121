"""scripts/export_model.py on altered copies of the fixture checkpoints: what it
refuses (one line, exit 1), what it ignores, and what it leaves behind.

Run by CTest (tests/CMakeLists.txt) with Debian's python3-pytest; the fixtures
are read from $BERT_EMBED_FIXTURES (default ../shared/fixtures)."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
EXPORTER = ROOT / "scripts" / "export_model.py"
FIXTURES = Path(os.environ.get("BERT_EMBED_FIXTURES", ROOT.parent / "shared" / "fixtures"))
PYTHON = "/usr/bin/python3"


def export(*args, timeout=300):
    return subprocess.run([PYTHON, str(EXPORTER), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def one_line_error(result) -> str:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("export_model.py: error: "), lines[0]
    return lines[0]


@pytest.fixture
def checkpoint(tmp_path):
    """A copy of the tiny-uncased checkpoint (bert, 2 layers, hidden 128) to alter."""
    source = FIXTURES / "models" / "tiny-uncased"
    if not source.is_dir():
        pytest.fail(f"fixtures not found at {FIXTURES} (set BERT_EMBED_FIXTURES)")
    copy = tmp_path / "checkpoint"
    shutil.copytree(source, copy)
    return copy


def edit_weights(checkpoint: Path, edit) -> None:
    path = checkpoint / "pytorch_model.bin"
    state = torch.load(path, weights_only=True)
    edit(state)
    torch.save(state, path)


def edit_config(checkpoint: Path, **fields) -> None:
    path = checkpoint / "config.json"
    config = json.loads(path.read_text())
    config.update(fields)
    path.write_text(json.dumps(config))


def test_records_the_sha256_of_every_file(checkpoint, tmp_path):
    bundle = tmp_path / "bundle"
    assert export("--int8", checkpoint, bundle).returncode == 0
    info = json.loads((bundle / "bundle.json").read_text())
    assert info["format_version"] == 2
    files = sorted(path.name for path in bundle.iterdir() if path.name != "bundle.json")
    assert sorted(info["files"]) == files == ["model.int8.pt", "model.pt", "tokenizer_config.json", "vocab.txt"]
    for name, digest in info["files"].items():
        assert hashlib.sha256((bundle / name).read_bytes()).hexdigest() == digest, name


def test_names_a_missing_weight(checkpoint, tmp_path):
    edit_weights(checkpoint, lambda state: state.pop("encoder.layer.1.output.dense.bias"))
    message = one_line_error(export(checkpoint, tmp_path / "bundle"))
    assert "weights do not match" in message
    assert "missing encoder.layer.1.output.dense.bias" in message
    assert not (tmp_path / "bundle").exists()


def test_ignores_task_heads(checkpoint, tmp_path):
    def add_heads(state):
        state["cls.predictions.bias"] = torch.zeros(30522)
        state["classifier.weight"] = torch.zeros(2, 128)
    edit_weights(checkpoint, add_heads)
    result = export(checkpoint, tmp_path / "bundle")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "bundle" / "model.pt").is_file()


def test_names_a_weight_of_the_wrong_shape(checkpoint, tmp_path):
    def shrink(state):
        state["encoder.layer.0.attention.output.dense.weight"] = torch.zeros(128, 64)
    edit_weights(checkpoint, shrink)
    message = one_line_error(export(checkpoint, tmp_path / "bundle"))
    assert "mismatched encoder.layer.0.attention.output.dense.weight [128, 64] (expected [128, 128])" in message


def peak_rss_of_export(*args) -> tuple:
    """(result, peak RSS in MiB) of one export, measured in a process of its own."""
    probe = ("import resource, subprocess, sys\n"
             "result = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
             "sys.stderr.write(result.stderr)\n"
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
             "sys.exit(result.returncode)\n")
    result = subprocess.run([PYTHON, "-c", probe, PYTHON, str(EXPORTER), *map(str, args)],
                            capture_output=True, text=True, timeout=300)
    return result, int(result.stdout) / 1024


@pytest.mark.parametrize("vocab_size", [8_000_000, 10**12])
def test_refuses_a_huge_vocab_size_before_allocating_it(checkpoint, tmp_path, vocab_size):
    # 8,000,000 rows of 128 floats are 4 GB; 10**12 cannot be allocated at all.
    edit_config(checkpoint, vocab_size=vocab_size)
    started = time.monotonic()
    result, peak_mib = peak_rss_of_export(checkpoint, tmp_path / "bundle")
    message = one_line_error(result)
    assert f"config.json: vocab_size is {vocab_size} but pytorch_model.bin has " \
           "embeddings.word_embeddings.weight of shape [30522, 128]" in message
    assert peak_mib < 1024, f"peak RSS {peak_mib:.0f} MiB"  # importing torch alone: about 250 MiB
    assert time.monotonic() - started < 60


def test_checks_the_config_against_a_safetensors_header(tmp_path):
    checkpoint = tmp_path / "checkpoint"
    shutil.copytree(FIXTURES / "models" / "tiny-mlm-uncased", checkpoint)
    edit_config(checkpoint, intermediate_size=4_000_000)
    message = one_line_error(export(checkpoint, tmp_path / "bundle"))
    assert "config.json: intermediate_size is 4000000 but model.safetensors has " in message
    assert "encoder.layer.0.intermediate.dense.weight of shape [512, 128]" in message


def test_names_the_layer_count_the_weights_have(checkpoint, tmp_path):
    edit_config(checkpoint, num_hidden_layers=3)
    message = one_line_error(export(checkpoint, tmp_path / "bundle"))
    assert "config.json: num_hidden_layers is 3 but pytorch_model.bin has 2 layers" in message


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_removes_the_partial_bundle(tmp_path, signum):
    """bert-base writes 440 MB of model.pt: stop the export once its staging
    directory exists, i.e. while it writes the bundle."""
    out = tmp_path / "out"
    out.mkdir()
    process = subprocess.Popen([PYTHON, str(EXPORTER), "--random-init", "--preset", "bert-base", "--vocab",
                                str(FIXTURES / "vocab" / "bert-base-uncased"), str(out / "bundle")],
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not any(out.iterdir()) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert process.poll() is None, "the export ended before it could be stopped"
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signum, stderr
    assert "removed the partial bundle" in stderr
    assert list(out.iterdir()) == []


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
