// The ONNX Runtime peer of the benchmark (run by bench.py with onnxruntime-node
// from build/bench-node):
//
//   node ort_embed.js MODEL.onnx IDS.jsonl OUTPUT.f32 [--batch 32] [--threads 2]
//
// Reads the token ids bert-embed's tokenize command wrote (one JSON object per
// line with "ids"), runs MODEL (inputs input_ids, attention_mask,
// token_type_ids; output pooled [batch, dim], bench/export_onnx.py) on batches
// of --batch lines sorted by length, with --threads intra-op threads and every
// graph optimization, writes the pooled vectors as raw float32 rows in input
// order, and prints one JSON line: load_seconds (session creation),
// inference_seconds (every batch), first_vector_seconds (process start to the
// first batch's vectors) and the number of rows and dimensions.
'use strict';

const fs = require('fs');
const ort = require('onnxruntime-node');

function parseArguments(argv) {
  const positional = [];
  const options = { batch: 32, threads: 2 };
  for (let i = 0; i < argv.length; ++i) {
    if (argv[i] === '--batch' || argv[i] === '--threads') {
      const value = Number(argv[++i]);
      if (!Number.isInteger(value) || value < 1) throw new Error(`${argv[i - 1]}: expected a count, got ${argv[i]}`);
      options[argv[i - 1].slice(2)] = value;
    } else {
      positional.push(argv[i]);
    }
  }
  if (positional.length !== 3) throw new Error('usage: ort_embed.js MODEL.onnx IDS.jsonl OUTPUT.f32 [--batch N] [--threads N]');
  [options.model, options.ids, options.output] = positional;
  return options;
}

function readIds(path) {
  return fs.readFileSync(path, 'utf8').split('\n').filter((line) => line.length > 0)
    .map((line, number) => {
      const ids = JSON.parse(line).ids;
      if (!Array.isArray(ids) || ids.length === 0) throw new Error(`${path}:${number + 1}: no "ids" array`);
      return ids;
    });
}

// int64 input_ids, attention_mask and token_type_ids of `rows`, padded (id 0) to the longest.
function batchInputs(texts, rows) {
  const sequence = Math.max(...rows.map((row) => texts[row].length));
  const ids = new BigInt64Array(rows.length * sequence);
  const mask = new BigInt64Array(rows.length * sequence);
  rows.forEach((row, r) => {
    texts[row].forEach((id, t) => {
      ids[r * sequence + t] = BigInt(id);
      mask[r * sequence + t] = 1n;
    });
  });
  const dims = [rows.length, sequence];
  return {
    input_ids: new ort.Tensor('int64', ids, dims),
    attention_mask: new ort.Tensor('int64', mask, dims),
    token_type_ids: new ort.Tensor('int64', new BigInt64Array(rows.length * sequence), dims),
  };
}

async function main() {
  const options = parseArguments(process.argv.slice(2));
  const texts = readIds(options.ids);
  const loadStarted = performance.now();
  const session = await ort.InferenceSession.create(options.model, {
    intraOpNumThreads: options.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const loadSeconds = (performance.now() - loadStarted) / 1000;

  const order = texts.map((_, row) => row).sort((a, b) => texts[a].length - texts[b].length);
  let vectors = null;
  let dim = 0;
  let firstVectorSeconds = null;
  const started = performance.now();
  for (let begin = 0; begin < order.length; begin += options.batch) {
    const rows = order.slice(begin, begin + options.batch);
    const { pooled } = await session.run(batchInputs(texts, rows));
    if (vectors === null) {
      dim = pooled.dims[1];
      vectors = new Float32Array(texts.length * dim);
      firstVectorSeconds = process.uptime();
    }
    rows.forEach((row, r) => vectors.set(pooled.data.subarray(r * dim, (r + 1) * dim), row * dim));
  }
  const inferenceSeconds = (performance.now() - started) / 1000;
  fs.writeFileSync(options.output, Buffer.from(vectors.buffer));
  console.log(JSON.stringify({
    rows: texts.length, dim, load_seconds: loadSeconds, inference_seconds: inferenceSeconds,
    first_vector_seconds: firstVectorSeconds, onnxruntime: require('onnxruntime-node/package.json').version,
  }));
}

main().catch((error) => {
  console.error(`ort_embed: error: ${error.message}`);
  process.exit(1);
});
