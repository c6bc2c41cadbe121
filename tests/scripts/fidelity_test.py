"""Each architecture's encoder, eager and scripted, against the HuggingFace
goldens: every hidden state of every token (and the pooler where the checkpoint
has one) within 1e-4, one text at a time and in one right-padded batch.

Run by CTest with Debian's python3-pytest; fixtures from $BERT_EMBED_FIXTURES."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(os.environ.get("BERT_EMBED_FIXTURES", ROOT.parent / "shared" / "fixtures"))
sys.path.insert(0, str(ROOT / "scripts"))

from bert_embed_export.architecture import (architecture_for, check_config_sizes,  # noqa: E402
                                            encoder_parameters, load_weights)
from bert_embed_export.checkpoint import find_weights, read_json  # noqa: E402

TOLERANCE = 1e-4
MODELS = ["tiny-roberta", "tiny-xlm-roberta", "tiny-distilbert", "tiny-electra", "tiny-mpnet", "tiny-gpt2",
          "tiny-xlnet", "st-tiny-bert-cls"]
CORPORA = ["english", "multilingual", "edge_cases", "pairs", "special_literals"]


def load_encoder(model: str):
    source = FIXTURES / "models" / model
    raw = read_json(source / "config.json")
    architecture = architecture_for(raw, "config.json")
    config = architecture.config(raw, "config.json")
    path, (_, read_weights, _) = find_weights(source)
    state, prefix = encoder_parameters(architecture, read_weights(path), path)
    check_config_sizes(architecture, config, state, prefix, path)
    encoder = architecture.build(config, architecture.checkpoint_has_pooler(state))
    load_weights(architecture, encoder, config, state, prefix, path)
    return encoder.eval(), architecture.read_tokenizer(source).special_ids["pad"]


@pytest.fixture(scope="module", params=MODELS)
def encoders(request):
    eager, pad_id = load_encoder(request.param)
    return request.param, eager, torch.jit.script(eager), pad_id


def golden_lines(golden: Path):
    """(ids, token types) per line; zero-token lines (GPT-2's empty line) included."""
    lines = []
    with open(golden / "tokens.jsonl", encoding="utf-8") as stream:
        for line in stream:
            record = json.loads(line)
            ids = record["ids"]
            lines.append((ids, record.get("token_type_ids") or [0] * len(ids)))
    return lines


def right_padded(lines, pad_id: int):
    seq = max(len(ids) for ids, _ in lines)
    ids = torch.full((len(lines), seq), pad_id, dtype=torch.long)
    mask = torch.zeros(len(lines), seq, dtype=torch.long)
    types = torch.zeros(len(lines), seq, dtype=torch.long)
    for row, (line_ids, line_types) in enumerate(lines):
        ids[row, :len(line_ids)] = torch.tensor(line_ids)
        types[row, :len(line_ids)] = torch.tensor(line_types)
        mask[row, :len(line_ids)] = 1
    return ids, mask, types


def max_error(module, golden: Path, pad_id: int, batched: bool) -> float:
    lines = golden_lines(golden)
    hidden = np.load(golden / "hidden.npy")
    offsets = np.load(golden / "offsets.npy")
    pooler = np.load(golden / "pooler.npy") if (golden / "pooler.npy").exists() else None
    real = [index for index, (ids, _) in enumerate(lines) if ids]  # zero-token lines have no rows
    worst = 0.0
    with torch.inference_mode():
        if batched:
            outputs = module(*right_padded([lines[index] for index in real], pad_id))
            results = {index: (outputs[0][:, row], outputs[1][row] if outputs[1].numel() else outputs[1])
                       for row, index in enumerate(real)}
        else:
            results = {}
            for index in real:
                output_hidden, output_pooled = module(*right_padded([lines[index]], pad_id))
                results[index] = (output_hidden[:, 0], output_pooled[0] if output_pooled.numel() else output_pooled)
        for index in real:
            output_hidden, output_pooled = results[index]
            length = len(lines[index][0])
            expected = hidden[:, offsets[index]:offsets[index + 1]]
            worst = max(worst, float(np.abs(output_hidden[:, :length].numpy() - expected).max()))
            if pooler is not None:
                worst = max(worst, float(np.abs(output_pooled.numpy() - pooler[index]).max()))
    return worst


@pytest.mark.parametrize("corpus", CORPORA)
def test_matches_the_goldens(encoders, corpus):
    model, eager, scripted, pad_id = encoders
    golden = FIXTURES / "goldens" / model / corpus
    if not golden.is_dir():
        pytest.skip(f"no {corpus} golden for {model}")
    for name, module in (("eager", eager), ("scripted", scripted)):
        for batched in (False, True):
            error = max_error(module, golden, pad_id, batched)
            print(f"{model} {corpus} {name} {'batched' if batched else 'one by one'}: max abs error {error:.2e}")
            assert error <= TOLERANCE, (name, batched, error)


@pytest.mark.parametrize("corpus", ["english", "multilingual", "edge_cases"])
def test_sentence_transformers_defaults_give_its_vectors(tmp_path, corpus):
    """The bundle's defaults (cls of the last layer, L2-normalized) applied to the
    scripted module give SentenceTransformer.encode's vectors (golden sentence.npy)."""
    bundle = tmp_path / "bundle"
    exporter = subprocess.run(["/usr/bin/python3", str(ROOT / "scripts" / "export_model.py"),
                               str(FIXTURES / "models" / "st-tiny-bert-cls"), str(bundle)],
                              capture_output=True, text=True)
    assert exporter.returncode == 0, exporter.stderr
    info = json.loads((bundle / "bundle.json").read_text())
    defaults = info["defaults"]
    assert (defaults["pooling"], defaults["layers"], defaults["normalize"]) == ("cls", "-1", "l2")
    module = torch.jit.load(str(bundle / "model.pt"))
    golden = FIXTURES / "goldens" / "st-tiny-bert-cls" / corpus
    lines = golden_lines(golden)
    assert all(len(ids) <= defaults["max_length"] for ids, _ in lines)
    expected = np.load(golden / "sentence.npy")
    with torch.inference_mode():
        last_layer = info["num_layers"] + 1 + int(defaults["layers"])  # "-1": the last hidden state
        hidden, _ = module.encode(*right_padded(lines, 0), [last_layer], False)
    vectors = torch.nn.functional.normalize(hidden[0, :, 0], dim=-1).numpy()
    assert float(np.abs(vectors - expected).max()) <= 1e-5


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-s"]))
