"""The four estimators compose: texts -> activations and features -> probe search
-> ablation."""

import numpy as np
import pandas as pd
from sklearn.pipeline import FeatureUnion, Pipeline

from skdni import sequence_ids
from skdni.activations import LSTMActivationTransformer
from skdni.features import ParserStateFeaturizer, ParseTreeFeaturizer
from skdni.intervention import NeuronAblationScorer
from skdni.probing import NeuronProbeSearch


def test_activations_then_search_in_one_pipeline(trained_lm, arithmetic_texts):
    texts = arithmetic_texts
    Y = ParseTreeFeaturizer("arithmetic", representations=("range",)).set_output(
        transform="pandas"
    )
    Y = Y.fit_transform(texts)
    pipe = Pipeline(
        [
            ("acts", LSTMActivationTransformer(trained_lm)),
            ("search", NeuronProbeSearch(cv=3, top_k=2, random_state=0)),
        ]
    )
    pipe.fit(texts, Y, search__groups=sequence_ids(texts))
    # same answer as running the two steps by hand
    H = LSTMActivationTransformer(trained_lm).fit_transform(texts)
    alone = NeuronProbeSearch(cv=3, top_k=2, random_state=0).fit(
        H, Y, groups=sequence_ids(texts)
    )
    pd.testing.assert_frame_equal(pipe[-1].scores_, alone.scores_)
    # the fitted pipeline selects the top units of every feature from texts
    selected = pipe.transform(texts)
    assert selected.shape == (len("".join(texts)), pipe[-1].get_support().sum())
    # the digit feature is learnt: its best unit beats the majority class clearly
    best = alone.scores_.loc["range:digit"].max()
    assert best > alone.chance_scores_["range:digit"] + 0.1


def test_featurizer_union_feeds_search_and_ablation(trained_lm, arithmetic_texts):
    texts = arithmetic_texts
    union = FeatureUnion(
        [
            ("tree", ParseTreeFeaturizer("arithmetic", representations=("range",))),
            ("parser", ParserStateFeaturizer("arithmetic")),
        ]
    ).set_output(transform="pandas")
    Y = union.fit_transform(texts)
    assert len(Y) == len("".join(texts))
    assert {"tree__range:digit", "parser__stack_depth"} <= set(Y.columns)
    H = LSTMActivationTransformer(trained_lm).fit_transform(texts)
    search = NeuronProbeSearch(cv=3, top_k=5, random_state=0).fit(
        H, Y, groups=sequence_ids(texts)
    )
    frame = NeuronAblationScorer(
        trained_lm,
        search=search,
        feature="tree__range:digit",
        k=[1, 5],
        n_random=3,
        random_state=0,
    ).evaluate(texts)
    assert list(frame["k"]) == [1, 5]
    np.testing.assert_allclose(frame["baseline"], trained_lm.score(texts), atol=1e-5)
