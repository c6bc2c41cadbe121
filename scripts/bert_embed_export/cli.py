"""The command line of scripts/export_model.py."""

import argparse
import signal
import shutil
import sys
import time
from pathlib import Path
from typing import List, Optional, Tuple

import torch

from .architecture import architecture_for, check_config_sizes, encoder_parameters, load_weights
from .bundle import check_destination, init_random_weights, make_staging_dir, publish_bundle, write_bundle
from .checkpoint import find_weights, read_json, sha256_of
from .errors import ExportError, Terminated
from .sentence_transformers import is_sentence_transformers_dir, read_sentence_transformers

PROG = "export_model.py"

# Transformer sizes for --random-init --preset (the vocabulary comes from --vocab).
PRESETS = {
    "bert-tiny": dict(model_type="bert", num_hidden_layers=2, hidden_size=128, num_attention_heads=2,
                      intermediate_size=512),
    "bert-mini": dict(model_type="bert", num_hidden_layers=4, hidden_size=256, num_attention_heads=4,
                      intermediate_size=1024),
    "bert-small": dict(model_type="bert", num_hidden_layers=4, hidden_size=512, num_attention_heads=8,
                       intermediate_size=2048),
    "bert-medium": dict(model_type="bert", num_hidden_layers=8, hidden_size=512, num_attention_heads=8,
                        intermediate_size=2048),
    "bert-base": dict(model_type="bert", num_hidden_layers=12, hidden_size=768, num_attention_heads=12,
                      intermediate_size=3072),
    "bert-large": dict(model_type="bert", num_hidden_layers=24, hidden_size=1024, num_attention_heads=16,
                       intermediate_size=4096),
    "albert-base": dict(model_type="albert", num_hidden_layers=12, hidden_size=768, num_attention_heads=12,
                        intermediate_size=3072, embedding_size=128),
    "albert-large": dict(model_type="albert", num_hidden_layers=24, hidden_size=1024,
                         num_attention_heads=16, intermediate_size=4096, embedding_size=128),
}

# Canonical config field (its config.json name depends on the architecture) <- command-line
# size flag (argparse dest).
SIZE_FLAGS = {
    "num_layers": "num_layers",
    "hidden_size": "hidden_size",
    "num_heads": "num_heads",
    "intermediate_size": "intermediate_size",
    "embedding_size": "embedding_size",
    "max_positions": "max_positions",
}


def random_init_config(args, source: Optional[Path]) -> Tuple[dict, str]:
    """config.json fields for --random-init and where they came from."""
    if args.preset is not None:
        raw, origin = dict(PRESETS[args.preset]), f"preset {args.preset}"
    elif args.config is not None:
        raw, origin = read_json(args.config), str(args.config)
    else:
        raw, origin = read_json(source / "config.json"), str(source / "config.json")
    names = architecture_for(raw, origin).names
    overrides = {}
    for canonical, dest in SIZE_FLAGS.items():
        if getattr(args, dest) is None:
            continue
        if canonical not in names:
            raise ExportError(f"--{dest.replace('_', '-')}: {origin} describes a {raw['model_type']} model, "
                              "which has no such size")
        overrides[names[canonical]] = getattr(args, dest)
    if overrides:
        raw.update(overrides)
        origin += " with " + ", ".join(f"{field}={value}" for field, value in overrides.items())
    return raw, origin


def export(args) -> Path:
    started = time.monotonic()
    defaults = None
    if len(args.paths) == 2:
        source, bundle = Path(args.paths[0]), Path(args.paths[1])
        if not source.is_dir():
            raise ExportError(f"{source}: not a directory (expected a HuggingFace checkpoint directory)")
        inputs = [source]
        if is_sentence_transformers_dir(source):
            source, defaults = read_sentence_transformers(source)
    else:
        source, bundle, inputs = None, Path(args.paths[0]), []
    tokenizer_dir = args.vocab if args.vocab is not None else source
    if not tokenizer_dir.is_dir():
        raise ExportError(f"{tokenizer_dir}: not a directory")
    check_destination(bundle, args.force, inputs + [path for path in (tokenizer_dir, args.config) if path is not None])

    if args.random_init:
        raw_config, origin = random_init_config(args, source)
    else:
        raw_config, origin = read_json(source / "config.json"), str(source / "config.json")
    architecture = architecture_for(raw_config, origin)
    if args.preset is not None:
        # A preset sizes the transformer; the vocabulary is the tokenizer's.
        tokenizer = architecture.read_tokenizer(tokenizer_dir)
        raw_config[architecture.names["vocab_size"]] = tokenizer.vocab_size
        config = architecture.config(raw_config, origin)
    else:
        config = architecture.config(raw_config, origin)
        tokenizer = architecture.read_tokenizer(tokenizer_dir)
    if tokenizer.vocab_size > config.vocab_size:
        raise ExportError(f"{tokenizer.files[0]}: the tokenizer has {tokenizer.vocab_size} ids but {origin} "
                          f"gives vocab_size {config.vocab_size}; the tokenizer does not belong to this model")

    if args.random_init:
        model = architecture.build(config, has_pooler=True)
        digest = init_random_weights(model, config, args.seed)
        source_info = {"dir": (source or tokenizer_dir).resolve().name, "weights_file": None,
                       "sha256": digest, "random_init": True, "seed": args.seed}
    else:
        weights_path, (_, read_weights, read_shapes) = find_weights(source)
        shapes, key_prefix = encoder_parameters(architecture, read_shapes(weights_path), weights_path)
        check_config_sizes(architecture, config, shapes, key_prefix, weights_path)
        state, key_prefix = encoder_parameters(architecture, read_weights(weights_path), weights_path)
        model = architecture.build(config, has_pooler=architecture.checkpoint_has_pooler(state))
        load_weights(architecture, model, config, state, key_prefix, weights_path)
        del state
        source_info = {"dir": inputs[0].resolve().name, "weights_file": weights_path.name,
                       "sha256": sha256_of(weights_path), "random_init": False}
    model.eval()
    if defaults is not None:
        defaults["max_length"] = min(defaults.get("max_length", config.max_positions), config.max_positions)

    staging = make_staging_dir(bundle)
    try:
        write_bundle(staging, architecture, model, config, tokenizer, source_info, args.int8, defaults)
        publish_bundle(staging, bundle)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    print(f"{PROG}: wrote {bundle} ({architecture.name}, {config.num_layers} layers, hidden "
          f"{config.hidden_size}, {'pooler' if model.pooler is not None else 'no pooler'}"
          f"{', int8' if args.int8 else ''}) in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return bundle


def parse_args(argv: List[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="%(prog)s [options] SOURCE_DIR BUNDLE_DIR\n"
              "       %(prog)s --random-init (--preset NAME | --config FILE) --vocab DIR [options] BUNDLE_DIR",
        description="Export a HuggingFace checkpoint directory (config.json, model.safetensors or "
                    "pytorch_model.bin, the tokenizer files) of a BERT, ALBERT, RoBERTa, XLM-RoBERTa, "
                    "DistilBERT, ELECTRA, MPNet, GPT-2 or XLNet model, or a sentence-transformers directory "
                    "(modules.json) around one, as a bert-embed bundle.",
        epilog="examples:\n"
               "  %(prog)s ~/checkpoints/bert-base-uncased models/bert-base-uncased --int8\n"
               "  %(prog)s --random-init --preset bert-base --vocab ../shared/fixtures/vocab/bert-base-uncased "
               "models/random-bert-base\n"
               "  %(prog)s --random-init --preset albert-base --vocab ../shared/fixtures/vocab/albert-base-v2-spm "
               "models/random-albert-base\n"
               "  %(prog)s --random-init --num-layers 6 CHECKPOINT_DIR models/random-6-layers\n"
               "\nerrors are reported as one line on stderr with exit status 1 (2 for usage errors).")
    parser.add_argument("paths", nargs="+", metavar="SOURCE_DIR BUNDLE_DIR",
                        help="checkpoint directory and bundle directory to write (with --random-init and "
                             "--preset/--config only BUNDLE_DIR)")
    parser.add_argument("--int8", action="store_true",
                        help="also write model.int8.pt (Linear layers dynamically quantized to int8)")
    parser.add_argument("--force", action="store_true", help="replace an existing non-empty BUNDLE_DIR")
    random_init = parser.add_argument_group("random weights (for benchmarks)")
    random_init.add_argument("--random-init", action="store_true",
                             help="seeded random weights at the configured size instead of a checkpoint's")
    random_init.add_argument("--preset", choices=PRESETS, metavar="NAME",
                             help=f"transformer size: {', '.join(PRESETS)}")
    random_init.add_argument("--config", type=Path, metavar="FILE", help="HuggingFace config.json to use")
    random_init.add_argument("--vocab", type=Path, metavar="DIR",
                             help="directory with the tokenizer files (default: SOURCE_DIR)")
    random_init.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    for field, dest in SIZE_FLAGS.items():
        random_init.add_argument("--" + dest.replace("_", "-"), dest=dest, type=int, metavar="N",
                                 help=f"override {field.replace('_', ' ')}")
    args = parser.parse_args(argv)

    size_flags = [dest for dest in SIZE_FLAGS.values() if getattr(args, dest) is not None]
    if not args.random_init:
        used = [flag for flag, value in (("--preset", args.preset), ("--config", args.config),
                                         ("--vocab", args.vocab)) if value is not None]
        used += ["--" + dest.replace("_", "-") for dest in size_flags]
        if used:
            parser.error(f"{', '.join(used)}: need --random-init")
        if len(args.paths) != 2:
            parser.error("expected SOURCE_DIR BUNDLE_DIR")
    else:
        if args.preset is not None and args.config is not None:
            parser.error("give --preset or --config, not both")
        named = args.preset is not None or args.config is not None
        if len(args.paths) == 2 and named:
            parser.error("give either SOURCE_DIR or --preset/--config, not both")
        if len(args.paths) == 1 and not named:
            parser.error("--random-init needs SOURCE_DIR (with config.json) or --preset/--config")
        if len(args.paths) == 1 and args.vocab is None:
            parser.error("--random-init with --preset/--config needs --vocab DIR (tokenizer files)")
        if len(args.paths) > 2:
            parser.error("expected [SOURCE_DIR] BUNDLE_DIR")
    return args


def stop_on_signal(signum: int, frame) -> None:
    """SIGINT and SIGTERM end the export through an exception, which removes the
    partial bundle (up to the size of model.pt) on its way out; further signals are
    ignored so that the clean-up finishes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt if signum == signal.SIGINT else Terminated


def main(argv: List[str]) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGINT, stop_on_signal)
    signal.signal(signal.SIGTERM, stop_on_signal)
    try:
        with torch.no_grad():
            export(args)
    except ExportError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; removed the partial bundle", file=sys.stderr)
        return 128 + signal.SIGINT
    except Terminated:
        print(f"{PROG}: terminated; removed the partial bundle", file=sys.stderr)
        return 128 + signal.SIGTERM
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
