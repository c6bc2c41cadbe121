#!/usr/bin/python3
"""Independent references for the evaluation stage's tests (evaluation_tests).

Usage: reference_scores.py TASK DIR. Reads the inputs a test wrote into DIR
and prints the reference's results as one JSON object on stdout.

  correlation  x.npy, y.npy (float64 [m, n]): scipy.stats pearsonr and
               spearmanr of each row pair, x100 ("pearson", "spearman";
               null for NaN).
  probe        train_x.npy (float32 [n, d]), train_y.npy (int64 [n]),
               test_x.npy (float32 [m, d]): StandardScaler fitted on the
               training rows, then LogisticRegression(C=1.0, max_iter=10000,
               multi_class="multinomial") ("predicted": int64 [m]).
  f1           predicted.npy, gold.npy (int64 [n]): accuracy_score and
               f1_score(average="macro"), x100.
  tagging      tags.txt: "GOLD PREDICTED" per token, a blank line between
               sentences; entity counts as conlleval.pl counts them,
               transliterated below.
"""
import json
import math
import os
import sys
import warnings

import numpy as np


def correlation(directory):
    from scipy import stats

    x = np.load(os.path.join(directory, "x.npy"))
    y = np.load(os.path.join(directory, "y.npy"))
    pearson, spearman = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant input: NaN, as expected
        for a, b in zip(x, y):
            pearson.append(100 * stats.pearsonr(a, b)[0])
            spearman.append(100 * stats.spearmanr(a, b)[0])
    as_json = lambda values: [None if math.isnan(v) else float(v) for v in values]
    return {"pearson": as_json(pearson), "spearman": as_json(spearman)}


def probe(directory):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    train_x = np.load(os.path.join(directory, "train_x.npy"))
    train_y = np.load(os.path.join(directory, "train_y.npy"))
    test_x = np.load(os.path.join(directory, "test_x.npy"))
    scaler = StandardScaler().fit(train_x)
    model = LogisticRegression(C=1.0, max_iter=10000, multi_class="multinomial")
    model.fit(scaler.transform(train_x), train_y)
    return {"predicted": model.predict(scaler.transform(test_x)).tolist()}


def f1(directory):
    from sklearn.metrics import accuracy_score, f1_score

    predicted = np.load(os.path.join(directory, "predicted.npy"))
    gold = np.load(os.path.join(directory, "gold.npy"))
    return {
        "accuracy": 100 * accuracy_score(gold, predicted),
        "macro_f1": 100 * f1_score(gold, predicted, average="macro"),
    }


def split_tag(tag):
    if tag == "O":
        return "O", ""
    prefix, _, kind = tag.partition("-")
    return prefix, kind


# conlleval.pl's endOfChunk and startOfChunk, for the B, I and O tags.
def end_of_chunk(previous_tag, tag, previous_type, kind):
    if previous_tag in ("B", "I") and tag in ("B", "O"):
        return True
    return previous_tag != "O" and previous_type != kind


def start_of_chunk(previous_tag, tag, previous_type, kind):
    if tag == "B" or (previous_tag == "O" and tag == "I"):
        return True
    return tag != "O" and previous_type != kind


def tagging(directory):
    with open(os.path.join(directory, "tags.txt"), encoding="utf-8") as lines:
        rows = [line.split() for line in lines]
    rows.append([])  # the file ends as a sentence does
    correct_chunks = found_correct = found_guessed = correct_tags = tokens = 0
    in_correct = False
    last_correct, last_correct_type = "O", ""
    last_guessed, last_guessed_type = "O", ""
    for row in rows:
        boundary = not row
        correct, correct_type = split_tag("O" if boundary else row[0])
        guessed, guessed_type = split_tag("O" if boundary else row[1])
        correct_ends = end_of_chunk(last_correct, correct, last_correct_type, correct_type)
        guessed_ends = end_of_chunk(last_guessed, guessed, last_guessed_type, guessed_type)
        if in_correct:
            if correct_ends and guessed_ends and last_guessed_type == last_correct_type:
                in_correct = False
                correct_chunks += 1
            elif correct_ends != guessed_ends or guessed_type != correct_type:
                in_correct = False
        correct_starts = start_of_chunk(last_correct, correct, last_correct_type, correct_type)
        guessed_starts = start_of_chunk(last_guessed, guessed, last_guessed_type, guessed_type)
        if correct_starts and guessed_starts and guessed_type == correct_type:
            in_correct = True
        found_correct += correct_starts
        found_guessed += guessed_starts
        if not boundary:
            correct_tags += correct == guessed and correct_type == guessed_type
            tokens += 1
        last_correct, last_correct_type = correct, correct_type
        last_guessed, last_guessed_type = guessed, guessed_type
    precision = 100 * correct_chunks / found_guessed if found_guessed else 0.0
    recall = 100 * correct_chunks / found_correct if found_correct else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {
        "correct_entities": correct_chunks,
        "gold_entities": found_correct,
        "predicted_entities": found_guessed,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "token_accuracy": 100 * correct_tags / tokens if tokens else 0.0,
    }


if __name__ == "__main__":
    task, directory = sys.argv[1], sys.argv[2]
    tasks = {"correlation": correlation, "probe": probe, "f1": f1, "tagging": tagging}
    json.dump(tasks[task](directory), sys.stdout)
