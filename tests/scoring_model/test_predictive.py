"""The pure trainer: refusal, learning a planted signal, the report, columns, factors."""

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from leadflow.scoring import predictive
from leadflow.scoring.predictive import ColumnMismatch, InsufficientHistory, TrainingInput

from .synthetic import planted


def _input(n: int, seed: int = 0) -> TrainingInput:
    frame = planted(n, seed=seed)
    y = predictive.target_from_column(frame["won"], "yes")
    return TrainingInput(
        frame=frame.drop(columns=["won", "id"]), y=y, target="won", positive="yes", ignored=["id"]
    )


def test_refuses_too_little_history_naming_the_counts() -> None:
    data = _input(150)
    with pytest.raises(InsufficientHistory) as exc:
        predictive.train(data)
    positives = int(data.y.sum())
    assert f"150 closed examples ({positives} converted, {150 - positives} lost)" in str(exc.value)
    assert "at least 200 closed and 20 of each" in str(exc.value)


def test_refuses_when_one_class_is_rare() -> None:
    data = _input(400)
    data.y = np.zeros(400, dtype=int)
    data.y[:5] = 1
    with pytest.raises(InsufficientHistory, match=r"\(5 converted, 395 lost\)"):
        predictive.train(data)


def test_learns_a_planted_signal_deterministically() -> None:
    model = predictive.train(_input(600, seed=1), seed=7)
    holdout = planted(600, seed=2)
    y = (holdout["won"] == "yes").to_numpy(dtype=int)
    features = holdout.drop(columns=["won", "id"])
    p = model.predict(features)
    assert roc_auc_score(y, p) > 0.8
    assert model.report["metrics"]["roc_auc"] > 0.8
    again = predictive.train(_input(600, seed=1), seed=7)
    assert np.array_equal(again.predict(features), p)


def test_report_fields_are_present_and_sane() -> None:
    data = _input(500, seed=3)
    report = predictive.train(data).report
    assert report["examples"] == 500
    assert report["positives"] + report["negatives"] == 500
    assert report["calibration_method"] == "sigmoid"  # the rarer class has fewer than 500 examples
    metrics = report["metrics"]
    assert set(metrics) == {"roc_auc", "pr_auc", "top20_capture", "brier"}
    assert 0.5 < metrics["roc_auc"] <= 1
    assert report["base_rate"] < metrics["pr_auc"] <= 1
    assert 0.2 < metrics["top20_capture"] <= 1  # better than picking at random
    assert 0 <= metrics["brier"] < report["base_rate"] * (1 - report["base_rate"])  # beats the base rate
    table = report["calibration"]
    assert len(table) == 10
    assert sum(row["count"] for row in table) == 500
    for row in table:
        if row["count"]:
            low, high = (float(edge) for edge in row["bin"].split("–"))
            assert low <= row["mean_predicted"] <= high
            assert 0 <= row["observed_rate"] <= 1
    assert report["columns"] == {"numeric": ["revenue", "noise"], "categorical": ["industry"]}


def test_metrics_on_known_rankings() -> None:
    y = np.array([1, 0, 0, 0, 0, 1, 0, 0, 0, 0])
    p = np.array([0.9, 0.8, 0.1, 0.1, 0.1, 0.2, 0.1, 0.1, 0.1, 0.1])
    assert predictive.top_capture(y, p) == 0.5  # the top 2 rows hold one of the two positives
    # 0.2 is ranked below the negative 0.8: 15 of the 16 pairs are in order.
    assert predictive.metrics(y, p)["roc_auc"] == pytest.approx(15 / 16)


def test_types_are_inferred_per_column() -> None:
    frame = planted(50).assign(code=["7"] * 49 + ["n/a"], flag=[True, False] * 25)
    schema = predictive.infer_schema(frame)
    assert schema.numeric == ["id", "revenue", "noise", "code"]  # 98 % of "code" parses as numbers
    assert list(schema.categorical) == ["industry", "won", "flag"]
    assert schema.categorical["industry"] == ["Education", "Health", "Retail", "Software"]


def test_mismatched_columns_are_listed() -> None:
    model = predictive.train(_input(300))
    frame = planted(10).drop(columns=["noise"]).assign(extra=1)
    with pytest.raises(ColumnMismatch) as exc:
        model.predict(frame)
    assert exc.value.missing == ["noise"]
    assert exc.value.extra == ["extra"]  # id and won are the model's ignored and target columns
    assert str(exc.value) == (
        "The data does not match the model's columns; missing columns: noise; unexpected columns: extra."
    )


def test_factors_explain_the_planted_signal() -> None:
    model = predictive.train(_input(600, seed=1))
    frame = planted(40, seed=5).drop(columns=["won", "id"])
    factors = model.explain(frame, top=2)
    assert len(factors) == 40
    first = [row[0] for row in factors if row]
    assert {f.feature for f in first} <= {"industry", "revenue", "noise"}
    assert sum(f.feature != "noise" for f in first) >= 36  # the signal, not the noise, explains most
    software = next(
        row
        for row, industry in zip(factors, frame["industry"], strict=True)
        if industry == "Software" and any(f.feature == "industry" for f in row)
    )
    factor = next(f for f in software if f.feature == "industry")
    assert factor.weight > 0
    assert factor.describe() == f"industry = Software ({factor.weight:+.2f})"


def test_save_and_load(tmp_path: Path) -> None:
    model = predictive.train(_input(300))
    path = model.save(tmp_path / "m.joblib")
    assert predictive.report_path(path).exists()
    loaded = predictive.load(path)
    frame = planted(5).drop(columns=["won"])
    assert np.array_equal(loaded.predict(frame), model.predict(frame))
    (tmp_path / "junk.joblib").write_text("not a model")
    with pytest.raises(ValueError, match="is not a readable model file"):
        predictive.load(tmp_path / "junk.joblib")
