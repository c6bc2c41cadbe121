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


# ---------------------------------------------------------------------------
# The architectures of issue 10: per model, a weight to drop, the task-model
# prefix and a head to add (with the pooler dropped, as task models have none),
# and a weight to give the wrong shape.
ARCHITECTURE_CASES = {
    "tiny-roberta": ("encoder.layer.1.output.dense.bias", "roberta.", "lm_head.dense.weight",
                     "encoder.layer.0.attention.output.dense.weight", [32, 31], [32, 32]),
    "tiny-xlm-roberta": ("encoder.layer.1.attention.self.key.weight", "roberta.", "lm_head.bias",
                         "encoder.layer.1.attention.self.value.bias", [31], [32]),
    "tiny-distilbert": ("transformer.layer.1.ffn.lin2.bias", "distilbert.", "vocab_projector.bias",
                        "transformer.layer.0.attention.out_lin.weight", [32, 31], [32, 32]),
    "tiny-electra": ("embeddings_project.bias", "electra.", "discriminator_predictions.dense.weight",
                     "encoder.layer.0.attention.output.dense.weight", [32, 31], [32, 32]),
    "tiny-mpnet": ("encoder.relative_attention_bias.weight", "mpnet.", "lm_head.bias",
                   "encoder.layer.0.attention.attn.o.weight", [32, 31], [32, 32]),
    "tiny-gpt2": ("h.1.mlp.c_proj.bias", "transformer.", "lm_head.weight",
                  "h.0.attn.c_proj.weight", [32, 31], [32, 32]),
    "tiny-xlnet": ("layer.1.rel_attn.seg_embed", "transformer.", "lm_loss.bias",
                   "layer.0.rel_attn.o", [32, 2, 15], [32, 2, 16]),
}
ARCHITECTURES = {"tiny-roberta": "roberta", "tiny-xlm-roberta": "xlm-roberta", "tiny-distilbert": "distilbert",
                 "tiny-electra": "electra", "tiny-mpnet": "mpnet", "tiny-gpt2": "gpt2", "tiny-xlnet": "xlnet"}


def copy_model(tmp_path: Path, model: str) -> Path:
    copy = tmp_path / model
    shutil.copytree(FIXTURES / "models" / model, copy)
    return copy


@pytest.mark.parametrize("model", ARCHITECTURE_CASES)
def test_architecture_names_a_missing_weight(tmp_path, model):
    missing = ARCHITECTURE_CASES[model][0]
    checkpoint = copy_model(tmp_path, model)
    edit_weights(checkpoint, lambda state: state.pop(missing))
    message = one_line_error(export(checkpoint, tmp_path / "bundle"))
    assert "weights do not match" in message
    assert f"missing {missing}" in message
    assert not (tmp_path / "bundle").exists()


@pytest.mark.parametrize("model", ARCHITECTURE_CASES)
def test_architecture_ignores_task_heads_and_reads_the_task_prefix(tmp_path, model):
    _, prefix, head, _, _, _ = ARCHITECTURE_CASES[model]
    checkpoint = copy_model(tmp_path, model)

    def as_task_model(state):
        encoder = {prefix + key: value for key, value in state.items() if not key.startswith("pooler.")}
        state.clear()
        state.update(encoder)
        state[head] = torch.zeros(4, 4)
    edit_weights(checkpoint, as_task_model)
    result = export(checkpoint, tmp_path / "bundle")
    assert result.returncode == 0, result.stderr
    info = json.loads((tmp_path / "bundle" / "bundle.json").read_text())
    assert info["architecture"] == ARCHITECTURES[model]
    assert info["has_pooler"] is False


@pytest.mark.parametrize("model", ARCHITECTURE_CASES)
def test_architecture_names_a_weight_of_the_wrong_shape(tmp_path, model):
    _, _, _, name, shape, expected = ARCHITECTURE_CASES[model]
    checkpoint = copy_model(tmp_path, model)

    def reshape(state):
        state[name] = torch.zeros(shape)
    edit_weights(checkpoint, reshape)
    message = one_line_error(export(checkpoint, tmp_path / "bundle"))
    assert f"mismatched {name} {shape} (expected {expected})" in message


@pytest.mark.parametrize("model", ARCHITECTURE_CASES)
def test_architecture_tokenizer_section(tmp_path, model):
    """Special ids as the reference tokenizer gives them (-1 where it has none; GPT-2
    pads with <|endoftext|>), and the no-split tokens with their strip sides."""
    bundle = tmp_path / "bundle"
    assert export(FIXTURES / "models" / model, bundle).returncode == 0
    section = json.loads((bundle / "bundle.json").read_text())["tokenizer"]
    meta = json.loads((FIXTURES / "goldens" / model / "english" / "meta.json").read_text())["tokenizer"]
    for name in ("cls", "sep", "unk", "mask"):
        assert section["special_ids"][name] == meta["special_ids"].get(name + "_token", -1), name
    pad = meta["special_ids"]["pad_token"] if "pad_token" in meta["special_ids"] else meta["special_ids"]["eos_token"]
    assert section["special_ids"]["pad"] == pad
    for name in section["files"]:
        assert (bundle / name).is_file(), name
    added = {token["content"]: token for token in section["added_tokens"]}
    for content, token_id in meta["added_tokens"].items():
        assert added[content]["id"] == token_id
    expected_framing = {"tiny-gpt2": "none", "tiny-xlnet": "xlnet", "tiny-distilbert": "bert",
                        "tiny-electra": "bert"}.get(model, "roberta")
    assert section["framing"] == expected_framing
    strips = {content: (token["lstrip"], token["rstrip"]) for content, token in added.items()}
    if model in ("tiny-roberta", "tiny-mpnet"):
        assert strips["<mask>"] == (True, False) and strips["<s>"] == (False, False)
    if model == "tiny-xlnet":
        assert strips["<mask>"] == (True, False) and strips["<sep>"] == (True, True) and "<eod>" in strips
    if model == "tiny-gpt2":
        assert strips == {"<|endoftext|>": (False, False)}


@pytest.mark.parametrize("model", ["tiny-uncased", "tiny-albert"])
def test_a_directory_without_special_tokens_map_has_no_no_split_tokens(tmp_path, model):
    """The BERT and ALBERT goldens were made with directly constructed tokenizers, which
    cut out no literal special token: ALBERT splits "[CLS]" of the text into pieces."""
    bundle = tmp_path / "bundle"
    assert export(FIXTURES / "models" / model, bundle).returncode == 0
    section = json.loads((bundle / "bundle.json").read_text())["tokenizer"]
    assert section["added_tokens"] == [] and section["framing"] == "bert"


def st_copy(tmp_path: Path) -> Path:
    return copy_model(tmp_path, "st-tiny-bert-cls")


def test_sentence_transformers_directory_records_its_defaults(tmp_path):
    bundle = tmp_path / "bundle"
    result = export(FIXTURES / "models" / "st-tiny-bert-cls", bundle)
    assert result.returncode == 0, result.stderr
    info = json.loads((bundle / "bundle.json").read_text())
    assert info["defaults"] == {"pooling": "cls", "layers": "-1", "normalize": "l2", "max_length": 32,
                                "strip_text": True, "prefix": ""}
    assert info["architecture"] == "bert" and info["tokenizer"]["framing"] == "bert"


def test_sentence_transformers_without_normalize_and_with_mean_pooling(tmp_path):
    checkpoint = st_copy(tmp_path)
    modules = json.loads((checkpoint / "modules.json").read_text())
    (checkpoint / "modules.json").write_text(json.dumps(modules[:2]))
    pooling = checkpoint / "1_Pooling" / "config.json"
    pooling.write_text(json.dumps({"word_embedding_dimension": 32, "pooling_mode_mean_tokens": True}))
    assert export(checkpoint, tmp_path / "bundle").returncode == 0
    defaults = json.loads((tmp_path / "bundle" / "bundle.json").read_text())["defaults"]
    assert defaults["pooling"] == "mean" and defaults["normalize"] == "none"


def test_sentence_transformers_refuses_a_dense_module(tmp_path):
    checkpoint = st_copy(tmp_path)
    modules = json.loads((checkpoint / "modules.json").read_text())
    modules.insert(2, {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"})
    (checkpoint / "modules.json").write_text(json.dumps(modules))
    message = one_line_error(export(checkpoint, tmp_path / "bundle"))
    assert "modules.json: module sentence_transformers.models.Dense" in message
    assert "not supported" in message


def test_sentence_transformers_refuses_an_unsupported_pooling_mode(tmp_path):
    checkpoint = st_copy(tmp_path)
    pooling = checkpoint / "1_Pooling" / "config.json"
    pooling.write_text(json.dumps({"pooling_mode_cls_token": False, "pooling_mode_mean_sqrt_len_tokens": True}))
    message = one_line_error(export(checkpoint, tmp_path / "bundle"))
    assert "1_Pooling/config.json: pooling_mode_mean_sqrt_len_tokens is not supported" in message


def test_refuses_an_unknown_model_type(checkpoint, tmp_path):
    edit_config(checkpoint, model_type="t5")
    message = one_line_error(export(checkpoint, tmp_path / "bundle"))
    assert "model_type 't5' is not supported" in message and '"xlnet"' in message


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
