"""core.stats: Bradley–Terry ratings and their bootstrap, counts, mean intervals, Krippendorff's α, BLEU/ROUGE-L."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from core.stats import (
    Battle,
    MeanCI,
    PositionBias,
    RatingCI,
    Winner,
    WinTieLoss,
    bleu4,
    bootstrap_bradley_terry,
    bradley_terry,
    krippendorff_alpha,
    mean_ci,
    position_bias,
    rouge_l,
    win_matrix,
)

ELO = 400.0 / math.log(10.0)  # Elo points per natural-log unit of strength


def random_battles(count: int, seed: int, strengths: Sequence[float] = (-1.0, -0.3, 0.0, 0.4, 1.1)) -> list[Battle]:
    """Battles between models of known natural-log ``strengths``, ~15 % ties, sides at random."""
    rng = np.random.default_rng(seed)
    names = [f"model-{i}" for i in range(len(strengths))]
    battles = []
    for _ in range(count):
        a, b = rng.choice(len(names), size=2, replace=False)
        u = rng.random()
        winner: Winner
        if u < 0.10:
            winner = "tie"
        elif u < 0.15:
            winner = "tie (bothbad)"
        else:
            p_a = 1.0 / (1.0 + math.exp(strengths[b] - strengths[a]))
            winner = "model_a" if rng.random() < p_a else "model_b"
        battles.append(Battle(names[a], names[b], winner))
    return battles


def reference_bradley_terry(battles: Sequence[Battle]) -> dict[str, float]:
    """Independent fit: the per-battle negative log-likelihood minimised by scipy's BFGS."""
    optimize = pytest.importorskip("scipy.optimize")
    names = sorted({name for battle in battles for name in (battle.model_a, battle.model_b)})
    index = {name: i for i, name in enumerate(names)}
    left = np.array([index[b.model_a] for b in battles])
    right = np.array([index[b.model_b] for b in battles])
    score = np.array([{"model_a": 1.0, "model_b": 0.0}.get(b.winner, 0.5) for b in battles])

    def nll(theta: np.ndarray) -> tuple[float, np.ndarray]:
        diff = theta[left] - theta[right]
        p = 1.0 / (1.0 + np.exp(-diff))
        value = -np.sum(score * np.log(p) + (1.0 - score) * np.log(1.0 - p))
        residual = score - p  # d(-nll)/d diff
        grad = -np.bincount(left, residual, len(names)) + np.bincount(right, residual, len(names))
        return float(value), grad

    result = optimize.minimize(nll, np.zeros(len(names)), jac=True, method="BFGS", options={"gtol": 1e-9})
    theta = result.x - result.x.mean()
    return {name: 1000.0 + ELO * float(theta[index[name]]) for name in names}


# --------------------------------------------------------------------------- Bradley–Terry


def test_bradley_terry_matches_direct_likelihood_fit() -> None:
    battles = random_battles(3000, seed=7)
    ours = bradley_terry(battles)
    reference = reference_bradley_terry(battles)
    assert set(ours) == set(reference)
    for name in reference:
        assert ours[name] == pytest.approx(reference[name], abs=0.5)
    assert sum(ours.values()) / len(ours) == pytest.approx(1000.0, abs=1e-9)
    # The known order of strengths is recovered.
    assert sorted(ours, key=ours.__getitem__) == [f"model-{i}" for i in range(5)]


def test_bradley_terry_two_models_closed_form() -> None:
    # a beats b 2 times, b beats a once... plus 2 ties: W_ab = 3, W_ba = 2 → R_a - R_b = 400 log10(3/2).
    battles = [
        Battle("a", "b", "model_a"),
        Battle("b", "a", "model_b"),
        Battle("a", "b", "model_b"),
        Battle("a", "b", "tie"),
        Battle("b", "a", "tie (bothbad)"),
    ]
    ratings = bradley_terry(battles)
    assert list(ratings) == ["a", "b"]
    assert ratings["a"] - ratings["b"] == pytest.approx(400.0 * math.log10(1.5), abs=1e-3)
    assert ratings["a"] + ratings["b"] == pytest.approx(2000.0)
    natural = bradley_terry(battles, scale=1.0, base=math.e, initial=0.0)
    assert natural["a"] - natural["b"] == pytest.approx(math.log(1.5), abs=1e-5)
    assert natural["a"] == pytest.approx(-natural["b"])


def test_bradley_terry_undefeated_model_stays_finite_and_on_top() -> None:
    battles = random_battles(400, seed=3, strengths=(0.0, 0.5, 1.0))
    battles += [Battle("champion", f"model-{i % 3}", "model_a") for i in range(30)]
    battles += [Battle(f"model-{i % 3}", "champion", "model_b") for i in range(30)]
    ratings = bradley_terry(battles)
    assert all(math.isfinite(value) for value in ratings.values())
    assert max(ratings, key=ratings.__getitem__) == "champion"
    assert ratings["champion"] - max(v for k, v in ratings.items() if k != "champion") > 500.0
    # And one that lost everything: finite, at the bottom.
    battles += [Battle("dud", f"model-{i % 3}", "model_b") for i in range(20)]
    ratings = bradley_terry(battles)
    assert all(math.isfinite(value) for value in ratings.values())
    assert min(ratings, key=ratings.__getitem__) == "dud"


def test_bradley_terry_edge_cases() -> None:
    assert bradley_terry([]) == {}
    assert bootstrap_bradley_terry([], rounds=10) == {}
    assert bradley_terry([Battle("a", "b", "tie")]) == pytest.approx({"a": 1000.0, "b": 1000.0})
    # A model against itself says nothing: ignored, but the model is still listed.
    assert bradley_terry([Battle("a", "a", "model_a")]) == {"a": 1000.0}
    assert bootstrap_bradley_terry([Battle("a", "a", "model_a")], rounds=10) == {"a": RatingCI(1000.0, 1000.0, 1000.0)}
    with pytest.raises(ValueError, match="unknown winner"):
        bradley_terry([Battle("a", "b", "draw")])  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        bradley_terry([Battle("a", "b", "tie")], base=1.0)
    with pytest.raises(ValueError):
        bootstrap_bradley_terry([Battle("a", "b", "tie")], level=1.0)


def test_bootstrap_is_deterministic_by_seed_and_brackets_the_estimate() -> None:
    battles = random_battles(1500, seed=11)
    first = bootstrap_bradley_terry(battles, rounds=300, seed=5)
    again = bootstrap_bradley_terry(battles, rounds=300, seed=5)
    other = bootstrap_bradley_terry(battles, rounds=300, seed=6)
    assert first == again
    assert first != other
    point = bradley_terry(battles)
    for name, ci in first.items():
        assert ci.rating == pytest.approx(point[name], abs=1e-9)
        assert ci.low < ci.rating < ci.high
        assert other[name].rating == ci.rating


def test_bootstrap_narrows_with_more_battles() -> None:
    few = bootstrap_bradley_terry(random_battles(300, seed=1), rounds=300, seed=0)
    many = bootstrap_bradley_terry(random_battles(6000, seed=1), rounds=300, seed=0)
    for name in few:
        assert many[name].high - many[name].low < 0.5 * (few[name].high - few[name].low)


def test_bootstrap_matches_resampling_battles_one_by_one() -> None:
    """The multinomial shortcut has the spread of the textbook bootstrap (resample, refit, repeat)."""
    battles = random_battles(500, seed=2)
    rounds = 300
    rng = np.random.default_rng(123)
    naive = []
    for _ in range(rounds):
        picks = rng.integers(0, len(battles), size=len(battles))
        ratings = bradley_terry([battles[i] for i in picks])
        naive.append([ratings.get(f"model-{i}", math.nan) for i in range(5)])
    naive_sd = np.nanstd(np.array(naive), axis=0)
    fast = bootstrap_bradley_terry(battles, rounds=2000, seed=0)
    # Width of a 68 % interval ≈ 2 standard deviations for a near-normal spread.
    fast_68 = bootstrap_bradley_terry(battles, rounds=2000, seed=0, level=0.6827)
    for i in range(5):
        half_width = (fast_68[f"model-{i}"].high - fast_68[f"model-{i}"].low) / 2.0
        assert 0.8 < half_width / naive_sd[i] < 1.25
        assert fast[f"model-{i}"].high - fast[f"model-{i}"].low > 2.0 * half_width


# --------------------------------------------------------------------------- counts


def test_win_matrix_counts_from_each_side() -> None:
    battles = [
        Battle("a", "b", "model_a"),
        Battle("b", "a", "model_a"),
        Battle("b", "a", "model_b"),
        Battle("a", "b", "tie"),
        Battle("b", "a", "tie (bothbad)"),
        Battle("a", "c", "model_b"),
        Battle("a", "a", "model_a"),  # self-battle: ignored
    ]
    matrix = win_matrix(battles)
    assert list(matrix) == ["a", "b", "c"]
    assert matrix["a"]["b"] == WinTieLoss(wins=2, ties=2, losses=1, both_bad=1)
    assert matrix["b"]["a"] == WinTieLoss(wins=1, ties=2, losses=2, both_bad=1)
    assert matrix["a"]["c"] == WinTieLoss(wins=0, ties=0, losses=1, both_bad=0)
    assert matrix["c"]["a"] == WinTieLoss(wins=1, ties=0, losses=0)
    assert matrix["b"]["c"] == WinTieLoss(0, 0, 0)  # never met: present, all zero
    assert "a" not in matrix["a"]
    assert matrix["a"]["b"].battles == 5
    assert win_matrix([]) == {}


def test_position_bias_hand_checked() -> None:
    battles = [Battle("a", "b", "model_a")] * 3 + [Battle("b", "a", "model_b")] + [Battle("a", "b", "tie")] * 2
    bias = position_bias(battles)
    assert (bias.left_wins, bias.decided, bias.rate) == (3, 4, 0.75)
    # Four decided battles: a resampled left-win share can only be 0, 1/4, ..., 1.
    assert bias.low in (0.0, 0.25, 0.5) and bias.high == 1.0
    assert position_bias(battles, seed=0) == bias
    balanced = position_bias([Battle("a", "b", "model_a"), Battle("a", "b", "model_b")] * 200)
    assert balanced.rate == 0.5
    assert 0.42 < balanced.low < 0.5 < balanced.high < 0.58
    none = position_bias([Battle("a", "b", "tie")])
    assert (none.left_wins, none.decided) == (0, 0)
    assert math.isnan(none.rate) and math.isnan(none.low) and math.isnan(none.high)
    assert isinstance(none, PositionBias)


def test_mean_ci_hand_checked() -> None:
    empty = mean_ci([])
    assert empty.n == 0 and math.isnan(empty.mean) and math.isnan(empty.low) and math.isnan(empty.high)
    assert mean_ci([4.5]) == MeanCI(mean=4.5, low=4.5, high=4.5, n=1)
    # Two values: a resampled mean is 0, 0.5 or 1 with probabilities 1/4, 1/2, 1/4,
    # so the central 95 % of 1,000 rounds runs from 0 to 1.
    assert mean_ci([0.0, 1.0]) == MeanCI(mean=0.5, low=0.0, high=1.0, n=2)
    scores = [1.0, 2.0, 3.0, 4.0, 5.0] * 8
    ci = mean_ci(scores, seed=3)
    assert ci.mean == 3.0 and ci.n == 40
    # Standard error sqrt(2 / 40) ≈ 0.224: a 95 % interval of about ±0.44.
    assert 2.45 < ci.low < 2.7 and 3.3 < ci.high < 3.55
    assert mean_ci(scores, seed=3) == ci
    assert mean_ci(scores, seed=4) != ci
    narrow = mean_ci(scores, seed=3, level=0.5)
    assert ci.low < narrow.low < narrow.high < ci.high


def test_mean_ci_paths_agree() -> None:
    """Few distinct values take the multinomial path, many the index path: same distribution."""
    rng = np.random.default_rng(0)
    scores = rng.integers(1, 11, size=2000).astype(float)  # 10 distinct values: multinomial
    jittered = scores + rng.uniform(-1e-9, 1e-9, size=scores.size)  # all distinct: indices
    by_value, by_index = mean_ci(list(scores)), mean_ci(list(jittered))
    assert by_value.mean == pytest.approx(by_index.mean)
    assert by_value.low == pytest.approx(by_index.low, abs=0.02)
    assert by_value.high == pytest.approx(by_index.high, abs=0.02)


# --------------------------------------------------------------------------- Krippendorff's α

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the 4 observers x 12 units example.
PAPER = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


def test_krippendorff_paper_example() -> None:
    assert krippendorff_alpha(PAPER, level="nominal") == pytest.approx(0.743, abs=5e-4)
    assert krippendorff_alpha(PAPER, level="ordinal") == pytest.approx(0.815, abs=5e-4)
    assert krippendorff_alpha(PAPER) == krippendorff_alpha(PAPER, level="ordinal")
    assert krippendorff_alpha(PAPER, level="interval") == pytest.approx(0.849, abs=5e-4)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_krippendorff_matches_reference_package(seed: int, level: str) -> None:
    krippendorff = pytest.importorskip("krippendorff")
    rng = np.random.default_rng(seed)
    raters, units = int(rng.integers(2, 7)), int(rng.integers(5, 60))
    if level == "interval" and seed % 2:
        values = np.round(rng.normal(3.0, 1.5, size=(raters, units)), 2)
    else:
        values = rng.integers(1, 6, size=(raters, units)).astype(float)
        values += (rng.random((raters, units)) < 0.5) * rng.integers(-1, 2, size=(raters, units))  # agreement
    values[rng.random((raters, units)) < 0.3] = np.nan
    data = [[None if math.isnan(v) else float(v) for v in row] for row in values]
    expected = krippendorff.alpha(reliability_data=values, level_of_measurement=level)
    assert krippendorff_alpha(data, level=level) == pytest.approx(expected, abs=1e-9)  # type: ignore[arg-type]
    # NaN marks a missing value just as None does.
    assert krippendorff_alpha(values.tolist(), level=level) == pytest.approx(expected, abs=1e-9)  # type: ignore[arg-type]


def test_krippendorff_undefined_and_perfect() -> None:
    assert math.isnan(krippendorff_alpha([]))
    assert math.isnan(krippendorff_alpha([[1, 2, 3]]))  # one rater: nothing pairable
    assert math.isnan(krippendorff_alpha([[1, None], [None, 2]]))  # no unit with two values
    assert math.isnan(krippendorff_alpha([[3, 3, 3], [3, 3, None]]))  # no variation
    assert krippendorff_alpha([[1, 2, 3], [1, 2, 3]], level="nominal") == 1.0
    # Units with a single value are dropped: this extra column changes nothing.
    assert krippendorff_alpha([[1, 2, 3, 5], [1, 2, 4, None]]) == krippendorff_alpha([[1, 2, 3], [1, 2, 4]])
    with pytest.raises(ValueError):
        krippendorff_alpha([[1, 2], [1]])


# --------------------------------------------------------------------------- BLEU / ROUGE-L


def test_identical_and_disjoint_text() -> None:
    jieba = pytest.importorskip("jieba")
    sentence = "我最近工作压力很大，晚上总是睡不着觉。"
    assert len([w for w in jieba.lcut(sentence) if w.strip()]) >= 4
    assert bleu4(sentence, sentence) == pytest.approx(1.0)
    assert rouge_l(sentence, sentence) == pytest.approx(1.0)
    assert bleu4("今天天气很好", "我喜欢吃苹果") == pytest.approx(0.0, abs=1e-9)
    assert rouge_l("今天天气很好", "我喜欢吃苹果") == pytest.approx(0.0, abs=1e-9)
    assert bleu4("", sentence) == 0.0
    assert rouge_l("", sentence) == 0.0
    assert rouge_l("   ", sentence) == 0.0


def test_rouge_l_hand_checked() -> None:
    jieba = pytest.importorskip("jieba")
    candidate, reference = "我今天很开心", "今天我非常开心"
    assert jieba.lcut(candidate) == ["我", "今天", "很", "开心"]
    assert jieba.lcut(reference) == ["今天", "我", "非常", "开心"]
    # LCS = 2 ("今天 开心", or "我 开心"): P = 2/4, R = 2/4, F1 = 0.5.
    assert rouge_l(candidate, reference) == pytest.approx(0.5)
    # Three of four words shared in order: P = R = 3/4.
    assert rouge_l("我今天很开心", "我今天不开心") == pytest.approx(0.75)
    # Whitespace tokens are dropped: "the cat sat on the mat" vs "the cat is on the mat", LCS 5 of 6.
    assert rouge_l("the cat sat on the mat", "the cat is on the mat") == pytest.approx(5 / 6)


def test_bleu_hand_checked() -> None:
    pytest.importorskip("jieba")
    # Precisions 5/6, 3/5, 1/4 and no matching 4-gram (smoothed 0.1 / 3); equal lengths, no penalty.
    expected = (5 / 6 * 3 / 5 * 1 / 4 * 0.1 / 3) ** 0.25
    assert bleu4("the cat sat on the mat", "the cat is on the mat") == pytest.approx(expected)
    # Short candidate: precisions 1, 1, then no 3- or 4-grams at all (0.1 each), brevity exp(1 - 6/2).
    expected_short = math.exp(1 - 6 / 2) * (1 * 1 * 0.1 * 0.1) ** 0.25
    assert bleu4("the cat", "the cat sat on the mat") == pytest.approx(expected_short)
    # Clipping: "the the the" matches "the" only as often as the reference has it.
    assert bleu4("the the the the", "the cat") < bleu4("the cat", "the cat")


def test_lcs_matches_dynamic_programming() -> None:
    from core.stats.overlap import _lcs_length

    rng = np.random.default_rng(0)
    for _ in range(200):
        first = [str(x) for x in rng.integers(0, 5, size=int(rng.integers(0, 80)))]
        second = [str(x) for x in rng.integers(0, 5, size=int(rng.integers(0, 80)))]
        table = [[0] * (len(second) + 1) for _ in range(len(first) + 1)]
        for i, a in enumerate(first):
            for j, b in enumerate(second):
                table[i + 1][j + 1] = table[i][j] + 1 if a == b else max(table[i][j + 1], table[i + 1][j])
        assert _lcs_length(first, second) == table[-1][-1]
