"""`leadflow model train|score|evaluate` on a generated CSV."""

from io import StringIO
from pathlib import Path

import pandas as pd
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from .synthetic import planted


def run(*args: str) -> str:
    out = StringIO()
    call_command("model", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    path = tmp_path / "leads.csv"
    planted(400, seed=1).to_csv(path, index=False)
    return path


def test_train_score_round_trip(csv: Path, tmp_path: Path) -> None:
    model = tmp_path / "model.joblib"
    out = run(
        "train",
        "--csv",
        str(csv),
        "--target",
        "won",
        "--positive",
        "yes",
        "--ignore",
        "id",
        "--out",
        str(model),
    )
    assert "on 400 examples" in out
    assert "ROC AUC 0.8" in out or "ROC AUC 0.9" in out
    assert f"Saved the model to {model}" in out
    assert model.exists() and model.with_suffix(".json").exists()

    fresh = tmp_path / "fresh.csv"
    planted(50, seed=9).drop(columns=["won"]).to_csv(fresh, index=False)
    scores = tmp_path / "scores.csv"
    out = run("score", "--model", str(model), "--csv", str(fresh), "--output", str(scores))
    assert out.startswith("Scored 50 rows")
    result = pd.read_csv(scores)
    assert list(result.columns) == ["id", "industry", "revenue", "noise", "probability", "factors"]
    assert result["probability"].between(0, 1).all()
    assert result["factors"].str.contains(r"(?:industry|revenue|noise) = .+ \([+-]\d\.\d\d\)").all()
    software = result[result["industry"] == "Software"]["probability"].mean()
    assert software > result[result["industry"] != "Software"]["probability"].mean()


def test_evaluate_prints_every_metric_with_spread(csv: Path) -> None:
    out = run(
        "evaluate",
        "--csv",
        str(csv),
        "--target",
        "won",
        "--positive",
        "yes",
        "--ignore",
        "id",
        "--folds",
        "3",
        "--repeats",
        "2",
        "--seed",
        "42",
    )
    assert "stratified 3-fold cross-validation × 2, seed 42 (mean ± sd over 6 folds)" in out
    for label in ("ROC AUC", "PR AUC", "Positives in the top 20 %", "Brier score"):
        assert label in out
    auc = float(out.split("ROC AUC")[1].split("±")[0])
    assert auc > 0.8


def test_mismatched_columns_give_a_clear_error(csv: Path, tmp_path: Path) -> None:
    model = tmp_path / "model.joblib"
    run(
        "train",
        "--csv",
        str(csv),
        "--target",
        "won",
        "--positive",
        "yes",
        "--ignore",
        "id",
        "--out",
        str(model),
    )
    other = tmp_path / "other.csv"
    planted(10).rename(columns={"revenue": "turnover"}).to_csv(other, index=False)
    with pytest.raises(CommandError) as exc:
        run("score", "--model", str(model), "--csv", str(other), "--output", str(tmp_path / "s.csv"))
    assert str(exc.value) == (
        "The data does not match the model's columns; missing columns: revenue; unexpected columns: turnover."
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--target", "outcome", "--positive", "yes"],
            "leads.csv has no column 'outcome'; its columns: id, ",
        ),
        (["--target", "won", "--positive", "Won"], "No row has won = 'Won'; values seen include: no, yes."),
    ],
)
def test_bad_target_is_explained(csv: Path, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        run("train", "--csv", str(csv), *args)


def test_too_little_history_is_refused(tmp_path: Path) -> None:
    small = tmp_path / "small.csv"
    planted(60).to_csv(small, index=False)
    with pytest.raises(CommandError, match=r"Not enough history to train: 60 closed examples"):
        run("train", "--csv", str(small), "--target", "won", "--positive", "yes")


def test_missing_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="No model file at"):
        run("score", "--model", str(tmp_path / "none.joblib"), "--csv", "x.csv", "--output", "y.csv")
