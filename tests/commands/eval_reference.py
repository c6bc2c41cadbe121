"""Independent references for `bert-embed eval`, run by eval_test.cc on
vectors saved by `bert-embed embed`: scipy's correlations, scikit-learn's
logistic regression, and a conlleval-style entity count. Each prints JSON."""
import json
import sys

import numpy


def sts(vectors_file, gold_file):
    """Spearman and Pearson (x100) of the cosines of rows i and n + i with the gold scores."""
    from scipy import stats

    vectors = numpy.load(vectors_file).astype(numpy.float64)
    gold = numpy.loadtxt(gold_file, dtype=numpy.float64)
    n = len(gold)
    first, second = vectors[:n], vectors[n:]
    cosines = (first * second).sum(1) / (numpy.linalg.norm(first, axis=1) * numpy.linalg.norm(second, axis=1))
    return {"spearman": 100 * stats.spearmanr(cosines, gold).correlation,
            "pearson": 100 * stats.pearsonr(cosines, gold)[0]}


def classify(train_vectors, train_labels, test_vectors, test_labels):
    """Accuracy (x100) of LogisticRegression(C=1.0) on standardized features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(numpy.load(train_vectors))
    model = LogisticRegression(C=1.0, max_iter=10000)
    model.fit(scaler.transform(numpy.load(train_vectors)), numpy.loadtxt(train_labels, dtype=str))
    predicted = model.predict(scaler.transform(numpy.load(test_vectors)))
    return {"accuracy": 100 * float((predicted == numpy.loadtxt(test_labels, dtype=str)).mean())}


def chunks(tags):
    """(begin, end, type) of each chunk, as conlleval counts them: a chunk
    starts at B-X, or at I-X after O or after a chunk of another type."""
    found, begin, kind = [], None, None
    for position, tag in enumerate(tags + ["O"]):
        prefix, tag_type = (tag.split("-", 1) + [None])[:2] if tag != "O" else ("O", None)
        starts = prefix == "B" or (prefix == "I" and tag_type != kind)
        if kind is not None and (prefix == "O" or starts):
            found.append((begin, position, kind))
            kind = None
        if starts:
            begin, kind = position, tag_type
    return set(found)


def conlleval(predictions_file):
    """Entity-level micro F1 (x100) of a file of `word gold predicted` lines."""
    gold_count = predicted_count = correct = 0
    sentences, sentence = [], []
    for line in open(predictions_file, encoding="utf-8"):
        if line.strip():
            sentence.append(line.split())
        elif sentence:
            sentences.append(sentence)
            sentence = []
    if sentence:
        sentences.append(sentence)
    for sentence in sentences:
        gold = chunks([columns[-2] for columns in sentence])
        predicted = chunks([columns[-1] for columns in sentence])
        gold_count += len(gold)
        predicted_count += len(predicted)
        correct += len(gold & predicted)
    precision = correct / predicted_count if predicted_count else 0.0
    recall = correct / gold_count if gold_count else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"f1": 100 * f1, "predicted_entities": predicted_count, "gold_entities": gold_count}


if __name__ == "__main__":
    task = {"sts": sts, "classify": classify, "conlleval": conlleval}[sys.argv[1]]
    print(json.dumps(task(*sys.argv[2:])))
