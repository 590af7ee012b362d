"""Predictive scoring: a calibrated gradient-boosting model of "will this lead convert?".

Pure logic on pandas frames (no Django): column typing, training with a refusal when history is too
thin, honest out-of-fold metrics, calibrated probabilities, per-lead contributing factors, model files.
The same trainer serves the leads database (scoring.predictive_data) and any CSV (`leadflow model`).

The model is LightGBM with fixed, deliberately strong regularization (shallow trees, a slow learning
rate, large leaves, L2, row and column subsampling), chosen once and not tuned per data set. It is
wrapped in scikit-learn's CalibratedClassifierCV: isotonic when the rarer class has at least
ISOTONIC_MIN_MINORITY examples, sigmoid (Platt) below that, where isotonic over-fits.

Factors are LightGBM's exact SHAP values (pred_contrib), averaged over the calibration folds' models:
in log-odds, so "industry = Software (+0.12)" means that value raised the lead's log-odds of converting
by 0.12 against an average lead; negative values lower it.
"""

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier
from sklearn.calibration import CalibratedClassifierCV
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold

FORMAT = 1
MIN_CLOSED = 200
MIN_PER_CLASS = 20
ISOTONIC_MIN_MINORITY = 500
TOP_SHARE = 0.2
CALIBRATION_BINS = 10
# A category seen fewer times than this in training is treated as unknown (missing).
MIN_CATEGORY_COUNT = 5
# Share of values that must parse as numbers for a column to be numeric.
NUMERIC_SHARE = 0.95

LGBM_PARAMS: dict[str, Any] = {
    "n_estimators": 300,
    "learning_rate": 0.02,
    "num_leaves": 8,
    "max_depth": 3,
    "min_child_samples": 40,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.5,
    "reg_lambda": 10.0,
    "min_data_per_group": 50,
    "cat_smooth": 20.0,
    "max_cat_to_onehot": 8,
    "verbose": -1,
    "deterministic": True,
    "force_row_wise": True,
}


class InsufficientHistory(ValueError):
    """Too few closed examples (or too few of one class) to learn anything trustworthy."""


class ColumnMismatch(ValueError):
    """The data's columns are not the ones the model was trained on."""

    def __init__(self, *, missing: Sequence[str], extra: Sequence[str]) -> None:
        self.missing = list(missing)
        self.extra = list(extra)
        parts = []
        if self.missing:
            parts.append(f"missing columns: {', '.join(self.missing)}")
        if self.extra:
            parts.append(f"unexpected columns: {', '.join(self.extra)}")
        super().__init__("The data does not match the model's columns; " + "; ".join(parts) + ".")


@dataclass
class Schema:
    """Feature columns by type, and the categories each categorical column knows."""

    numeric: list[str]
    categorical: dict[str, list[str]]

    @property
    def columns(self) -> list[str]:
        return [*self.numeric, *self.categorical]


@dataclass
class Factor:
    feature: str
    value: str
    weight: float

    def describe(self) -> str:
        return f"{self.feature} = {self.value} ({self.weight:+.2f})"


@dataclass
class Model:
    """A trained, calibrated model with the schema it expects and its evaluation report."""

    schema: Schema
    estimator: CalibratedClassifierCV
    report: dict[str, Any]
    version: str = ""
    format: int = FORMAT

    def check_columns(self, columns: Sequence[str]) -> None:
        """Raises ColumnMismatch unless every feature column is present and nothing unknown is."""
        expected = self.schema.columns
        target = self.report.get("target")
        ignored = {target, *self.report.get("ignored", [])}
        missing = [c for c in expected if c not in columns]
        extra = [c for c in columns if c not in expected and c not in ignored]
        if missing or extra:
            raise ColumnMismatch(missing=missing, extra=extra)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities of the positive class, one per row."""
        self.check_columns(list(frame.columns))
        result: np.ndarray = self.estimator.predict_proba(encode(frame, self.schema))[:, 1]
        return result

    def explain(self, frame: pd.DataFrame, *, top: int = 3) -> list[list[Factor]]:
        """Each row's `top` strongest factors (SHAP values in log-odds), strongest first."""
        self.check_columns(list(frame.columns))
        encoded = encode(frame, self.schema)
        contributions = np.mean(
            [
                calibrated.estimator.booster_.predict(encoded, pred_contrib=True)
                for calibrated in self.estimator.calibrated_classifiers_
            ],
            axis=0,
        )[:, :-1]  # the last column is the bias
        names = self.schema.columns
        explained: list[list[Factor]] = []
        for row, weights in zip(encoded.itertuples(index=False), contributions, strict=True):
            order = np.argsort(-np.abs(weights))[:top]
            explained.append(
                [
                    Factor(feature=names[i], value=_shown(row[i]), weight=round(float(weights[i]), 4))
                    for i in order
                    if abs(weights[i]) >= 0.005
                ]
            )
        return explained

    def save(self, path: Path) -> Path:
        """Writes the model (joblib) and its report (JSON beside it, same name with .json)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(self, path)
        report_path(path).write_text(json.dumps(self.report, indent=2))
        return path


def report_path(model_path: Path) -> Path:
    return model_path.with_suffix(".json")


def load(path: Path) -> Model:
    """Reads a model file; ValueError with a plain message when it is not one of ours."""
    if not path.exists():
        raise ValueError(f"No model file at {path}.")
    try:
        model = joblib.load(path)
    except Exception as exc:
        raise ValueError(f"{path} is not a readable model file ({exc}).") from None
    if not isinstance(model, Model) or model.format != FORMAT:
        raise ValueError(f"{path} is not a leadflow model file of format {FORMAT}.")
    return model


def _shown(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "(empty)"
    if isinstance(value, float):
        if value.is_integer() or abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.3g}"
    return str(value)


def infer_schema(frame: pd.DataFrame) -> Schema:
    """Numeric columns are those whose non-empty values (almost) all parse as numbers; the rest are
    categorical, knowing the categories seen at least MIN_CATEGORY_COUNT times."""
    numeric: list[str] = []
    categorical: dict[str, list[str]] = {}
    for column in frame.columns:
        values = frame[column]
        present = values.dropna()
        if pd.api.types.is_bool_dtype(values):
            is_numeric = False
        elif pd.api.types.is_numeric_dtype(values):
            is_numeric = True
        else:
            parsed = pd.to_numeric(present, errors="coerce")
            is_numeric = bool(len(present)) and float(parsed.notna().mean()) >= NUMERIC_SHARE
        if is_numeric:
            numeric.append(column)
            continue
        counts = present.astype(str).value_counts()
        categorical[column] = sorted(counts[counts >= MIN_CATEGORY_COUNT].index)
    return Schema(numeric=numeric, categorical=categorical)


def encode(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """The frame in the schema's column order: numbers as floats, categories with fixed codes
    (an unknown or rare value becomes missing, which LightGBM handles)."""
    out: dict[str, pd.Series] = {}
    for column in schema.numeric:
        out[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    for column, categories in schema.categorical.items():
        values = frame[column].astype("string")
        out[column] = pd.Categorical(values.where(values.isin(categories)), categories=categories)
    return pd.DataFrame(out, index=frame.index)


def _estimator(*, minority: int, seed: int) -> CalibratedClassifierCV:
    method = "isotonic" if minority >= ISOTONIC_MIN_MINORITY else "sigmoid"
    booster = LGBMClassifier(**LGBM_PARAMS, random_state=seed, n_jobs=1)
    return CalibratedClassifierCV(
        booster, method=method, cv=StratifiedKFold(3, shuffle=True, random_state=seed)
    )


def check_history(y: np.ndarray, *, min_closed: int = MIN_CLOSED, min_per_class: int = MIN_PER_CLASS) -> None:
    """Raises InsufficientHistory, naming the counts, unless there is enough to learn from."""
    positives = int(y.sum())
    negatives = len(y) - positives
    if len(y) < min_closed or positives < min_per_class or negatives < min_per_class:
        raise InsufficientHistory(
            f"Not enough history to train: {len(y)} closed examples ({positives} converted, "
            f"{negatives} lost); at least {min_closed} closed and {min_per_class} of each are needed."
        )


def fit(frame: pd.DataFrame, y: np.ndarray, *, seed: int = 42) -> tuple[Schema, CalibratedClassifierCV]:
    """Fits the calibrated model on all rows (no history check, no report)."""
    schema = infer_schema(frame)
    minority = int(min(y.sum(), len(y) - y.sum()))
    estimator = _estimator(minority=minority, seed=seed)
    estimator.fit(encode(frame, schema), y)
    return schema, estimator


def fit_predict(
    train: pd.DataFrame, y_train: np.ndarray, test: pd.DataFrame, *, seed: int = 42
) -> np.ndarray:
    """Fits on one part and returns calibrated probabilities for the other (for cross-validation)."""
    schema, estimator = fit(train, y_train, seed=seed)
    result: np.ndarray = estimator.predict_proba(encode(test, schema))[:, 1]
    return result


def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """ROC AUC, PR AUC, share of positives in the top 20 % by score, Brier score."""
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "top20_capture": top_capture(y, p),
        "brier": float(brier_score_loss(y, p)),
    }


def top_capture(y: np.ndarray, p: np.ndarray, share: float = TOP_SHARE) -> float:
    """Share of all positives found among the `share` highest-scored rows (ties broken by order)."""
    top = max(1, round(len(p) * share))
    order = np.argsort(-p, kind="stable")[:top]
    return float(y[order].sum() / max(1, y.sum()))


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = CALIBRATION_BINS) -> list[dict[str, Any]]:
    """Predicted versus observed conversion rate in `bins` equal-width probability bins."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    rows = []
    for b in range(bins):
        mask = index == b
        count = int(mask.sum())
        rows.append(
            {
                "bin": f"{edges[b]:.1f}–{edges[b + 1]:.1f}",
                "count": count,
                "mean_predicted": round(float(p[mask].mean()), 4) if count else None,
                "observed_rate": round(float(y[mask].mean()), 4) if count else None,
            }
        )
    return rows


def cross_validate(
    frame: pd.DataFrame, y: np.ndarray, *, folds: int = 5, repeats: int = 1, seed: int = 42
) -> dict[str, dict[str, float]]:
    """Repeated stratified K-fold: each metric's mean and standard deviation across folds."""
    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    scores: list[dict[str, float]] = []
    for train_index, test_index in splitter.split(frame, y):
        p = fit_predict(frame.iloc[train_index], y[train_index], frame.iloc[test_index], seed=seed)
        scores.append(metrics(y[test_index], p))
    return summarize(scores)


def summarize(scores: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    return {
        name: {
            "mean": float(np.mean([s[name] for s in scores])),
            "sd": float(np.std([s[name] for s in scores], ddof=1)) if len(scores) > 1 else 0.0,
        }
        for name in scores[0]
    }


@dataclass
class TrainingInput:
    """What to train on: features, the 0/1 target, and how they were described."""

    frame: pd.DataFrame
    y: np.ndarray
    target: str = "converted"
    positive: str = "1"
    ignored: list[str] = field(default_factory=list)


def train(
    data: TrainingInput,
    *,
    seed: int = 42,
    min_closed: int = MIN_CLOSED,
    min_per_class: int = MIN_PER_CLASS,
    version: str = "",
) -> Model:
    """Checks the history, measures the model out of fold (5-fold), then fits it on everything.

    The report holds the out-of-fold metrics and calibration table, the counts, the calibration
    method, the columns by type and the hyperparameters.
    """
    y = np.asarray(data.y, dtype=int)
    check_history(y, min_closed=min_closed, min_per_class=min_per_class)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    oof = np.zeros(len(y))
    for train_index, test_index in folds.split(data.frame, y):
        oof[test_index] = fit_predict(
            data.frame.iloc[train_index], y[train_index], data.frame.iloc[test_index], seed=seed
        )
    schema, estimator = fit(data.frame, y, seed=seed)
    version = version or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report: dict[str, Any] = {
        "version": version,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "target": data.target,
        "positive": data.positive,
        "ignored": data.ignored,
        "examples": len(y),
        "positives": int(y.sum()),
        "negatives": int(len(y) - y.sum()),
        "base_rate": round(float(y.mean()), 4),
        "evaluation": "out-of-fold, stratified 5-fold",
        "metrics": {k: round(v, 4) for k, v in metrics(y, oof).items()},
        "calibration": calibration_table(y, oof),
        "calibration_method": estimator.method,
        "columns": asdict(schema) | {"categorical": list(schema.categorical)},
        "model": "LightGBM " + json.dumps({k: v for k, v in LGBM_PARAMS.items() if k != "verbose"}),
        "seed": seed,
    }
    return Model(schema=schema, estimator=estimator, report=report, version=version)


def target_from_column(values: pd.Series, positive: str) -> np.ndarray:
    """1 where the column equals `positive` (compared as text), else 0; ValueError if never."""
    y = (values.astype("string").str.strip() == positive.strip()).fillna(False).to_numpy(dtype=int)
    if not y.any():
        seen = ", ".join(sorted(values.dropna().astype(str).unique()[:10]))
        raise ValueError(f"No row has {values.name} = {positive!r}; values seen include: {seen}.")
    return y


def describe_report(report: dict[str, Any]) -> list[str]:
    """The report as plain lines for a terminal."""
    m = report["metrics"]
    lines = [
        f"Model {report['version']} trained {report['trained_at']} on {report['examples']} examples "
        f"({report['positives']} positive, {report['negatives']} negative; {report['target']} = "
        f"{report['positive']!r}).",
        f"{report['evaluation']}: ROC AUC {m['roc_auc']:.3f}, PR AUC {m['pr_auc']:.3f}, "
        f"positives in the top 20 % {m['top20_capture']:.1%}, Brier {m['brier']:.4f} "
        f"(calibration: {report['calibration_method']}).",
        "Calibration (predicted vs observed):",
    ]
    for row in report["calibration"]:
        if row["count"]:
            lines.append(
                f"  {row['bin']}: {row['count']:>6} rows, predicted {row['mean_predicted']:.3f}, "
                f"observed {row['observed_rate']:.3f}"
            )
    return lines
