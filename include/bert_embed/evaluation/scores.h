// The evaluation stage: how good vectors are for a task. Similarity scores
// (correlation of cosines with gold scores), linear probes (multinomial
// logistic regression) and their scores, entity-level tagging scores. Every
// score is x100, as SentEval, MTEB and conlleval print them. Everything
// numerical runs in libtorch, on its intra-op threads.
#pragma once

#include "bert_embed/evaluation/classification.h"  // classify: scores, folds, cross-validation
#include "bert_embed/evaluation/linear_probe.h"    // classify, tokens: the probe
#include "bert_embed/evaluation/similarity.h"      // sts
#include "bert_embed/evaluation/tagging.h"         // tokens: entity scores
