#!/usr/bin/python3
"""ONNX exports of a bert-embed bundle, for the ONNX Runtime peer of the benchmark.

    export_onnx.py BUNDLE_DIR OUTPUT_DIR

Writes OUTPUT_DIR/model.onnx: the bundle's encoder (the exporter's module for
a BERT bundle, scripts/bert_embed_export, with the weights of BUNDLE_DIR/model.pt), taking input_ids, attention_mask
and token_type_ids (int64, [batch, sequence], both axes dynamic) and returning
`pooled`, the mean of the last layer's vectors over the real tokens (bert-embed's
--pooling mean), torch.onnx.export at opset 17. And OUTPUT_DIR/model.int8.onnx:
the same graph with every MatMul by a weight dynamically quantized as ONNX
Runtime's quantize_dynamic does it (activations to uint8 per batch by
DynamicQuantizeLinear, weights to int8 per tensor, symmetric; MatMulInteger,
then the product of the two scales; ONNX Runtime fuses these into
MatMulIntegerToFloat). Like model.int8.pt, the attention products stay float32.
Debian's python3-torch and python3-onnx are all it needs.
"""

import json
import sys
from pathlib import Path
from typing import List

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from bert_embed_export.architecture import architecture_for  # noqa: E402  (what bundles are made from)
from bert_embed_export.layers import HiddenStateEncoder  # noqa: E402

OPSET = 17


class MeanPooledEncoder(nn.Module):
    """The last layer's vectors averaged over the real tokens."""

    def __init__(self, encoder: HiddenStateEncoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor) -> Tensor:
        hidden = self.encoder.encode(input_ids, attention_mask, token_type_ids,
                                     [self.encoder.num_layers], False)[0][0]
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


def load_encoder(bundle: Path) -> HiddenStateEncoder:
    info = json.loads((bundle / "bundle.json").read_text(encoding="utf-8"))
    raw = {"model_type": info["architecture"], "num_hidden_layers": info["num_layers"],
           "hidden_size": info["hidden_size"], "num_attention_heads": info["num_attention_heads"],
           "intermediate_size": info["intermediate_size"],
           "max_position_embeddings": info["max_position_embeddings"],
           "type_vocab_size": info["type_vocab_size"], "vocab_size": info["vocab_size"],
           "embedding_size": info["embedding_size"], "hidden_act": info["hidden_act"],
           "layer_norm_eps": info["layer_norm_eps"], "pad_token_id": info["tokenizer"]["special_ids"]["pad"]}
    if info["architecture"] != "bert":
        raise SystemExit(f"export_onnx.py: {bundle}: a BERT bundle is needed, not {info['architecture']}")
    architecture = architecture_for(raw, str(bundle / "bundle.json"))
    encoder = architecture.build(architecture.config(raw, str(bundle / "bundle.json")), has_pooler=info["has_pooler"])
    encoder.load_state_dict(torch.jit.load(str(bundle / "model.pt")).state_dict())
    return encoder.eval()


def export_float32(encoder: HiddenStateEncoder, path: Path) -> None:
    ids = torch.tensor([[101, 7592, 2088, 102, 0], [101, 2023, 2003, 1037, 102]])
    mask = (ids != 0).long()
    with torch.no_grad():
        torch.onnx.export(MeanPooledEncoder(encoder), (ids, mask, torch.zeros_like(ids)), str(path),
                          opset_version=OPSET, do_constant_folding=True,
                          input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["pooled"],
                          dynamic_axes={name: {0: "batch", 1: "sequence"}
                                        for name in ("input_ids", "attention_mask", "token_type_ids")}
                          | {"pooled": {0: "batch"}})


def quantize_weight_matmuls(model: onnx.ModelProto) -> int:
    """Rewrites each MatMul whose second input is a 2-D initializer; returns how many."""
    graph = model.graph
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    nodes: List[onnx.NodeProto] = []
    rewritten = 0
    for node in graph.node:
        weight = initializers.get(node.input[1]) if node.op_type == "MatMul" else None
        if weight is None or len(weight.dims) != 2:
            nodes.append(node)
            continue
        values = numpy_helper.to_array(weight).astype(np.float32)
        scale = max(float(np.abs(values).max()), 1e-12) / 127.0
        name = f"{node.name or node.output[0]}_int8"
        graph.initializer.extend([
            numpy_helper.from_array(np.clip(np.round(values / scale), -127, 127).astype(np.int8), name + "_weight"),
            numpy_helper.from_array(np.array(scale, dtype=np.float32), name + "_weight_scale"),
            numpy_helper.from_array(np.array(0, dtype=np.int8), name + "_weight_zero_point"),
        ])
        nodes += [
            helper.make_node("DynamicQuantizeLinear", [node.input[0]],
                             [name + "_input", name + "_input_scale", name + "_input_zero_point"]),
            helper.make_node("MatMulInteger", [name + "_input", name + "_weight", name + "_input_zero_point",
                                               name + "_weight_zero_point"], [name + "_int32"]),
            helper.make_node("Cast", [name + "_int32"], [name + "_float"], to=onnx.TensorProto.FLOAT),
            helper.make_node("Mul", [name + "_input_scale", name + "_weight_scale"], [name + "_scale"]),
            helper.make_node("Mul", [name + "_float", name + "_scale"], list(node.output)),
        ]
        rewritten += 1
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for node in graph.node for name in node.input}
    kept = [tensor for tensor in graph.initializer if tensor.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return rewritten


def main(argv: List[str]) -> int:
    if len(argv) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    bundle, output = Path(argv[0]), Path(argv[1])
    output.mkdir(parents=True, exist_ok=True)
    export_float32(load_encoder(bundle), output / "model.onnx")
    model = onnx.load(str(output / "model.onnx"))
    rewritten = quantize_weight_matmuls(model)
    onnx.checker.check_model(model)
    onnx.save(model, str(output / "model.int8.onnx"))
    print(f"export_onnx: wrote {output}/model.onnx and model.int8.onnx ({rewritten} MatMuls quantized)",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
