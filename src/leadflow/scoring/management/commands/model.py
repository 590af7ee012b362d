"""`leadflow model …`: the predictive model on any CSV (train, score, evaluate) and on the leads database
(train-leads, predict-leads, report, schedule)."""

from argparse import ArgumentParser
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from leadflow.scoring import predictive, predictive_data
from leadflow.scoring.predictive import TrainingInput


class Command(BaseCommand):
    help = "Train, evaluate and apply the predictive conversion model."

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(
            dest="action",
            required=True,
            metavar="{train,score,evaluate,train-leads,predict-leads,report,schedule}",
        )
        train = actions.add_parser("train", help="Train on a CSV and save the model with its report.")
        self._csv_target(train)
        train.add_argument("--out", type=Path, help="Model file to write (default: in the data directory).")
        train.add_argument("--seed", type=int, default=42)

        score = actions.add_parser("score", help="Score a CSV's rows with a saved model.")
        score.add_argument("--model", type=Path, required=True, help="A model file from `model train`.")
        score.add_argument("--csv", type=Path, required=True, help="Rows to score, with the model's columns.")
        score.add_argument("--output", type=Path, required=True, help="CSV to write: the rows plus scores.")
        score.add_argument("--factors", type=int, default=3, help="Top factors per row (default: 3).")

        evaluate = actions.add_parser("evaluate", help="Repeated stratified K-fold cross-validation.")
        self._csv_target(evaluate)
        evaluate.add_argument("--folds", type=int, default=5)
        evaluate.add_argument("--repeats", type=int, default=3)
        evaluate.add_argument("--seed", type=int, default=42)

        leads = actions.add_parser("train-leads", help="Train on the closed leads, then predict open ones.")
        leads.add_argument("--seed", type=int, default=42)
        leads.add_argument("--no-predict", action="store_true", help="Only train and save the model.")
        actions.add_parser("predict-leads", help="Predict every open lead with the latest lead model.")
        report = actions.add_parser("report", help="Show a lead model version's report (default: latest).")
        report.add_argument("version", nargs="?", help="A version, as listed by the report.")
        schedule = actions.add_parser("schedule", help="Start retraining the lead model on a schedule.")
        schedule.add_argument("--every-hours", type=float, default=24.0)

    @staticmethod
    def _csv_target(parser: ArgumentParser) -> None:
        parser.add_argument("--csv", type=Path, required=True, help="A CSV file with a header row.")
        parser.add_argument("--target", required=True, help="The column to predict.")
        parser.add_argument("--positive", required=True, help="The target value that counts as positive.")
        parser.add_argument(
            "--ignore",
            action="append",
            default=[],
            metavar="COL",
            help="A column that is not a feature (an id, say); repeat for several.",
        )

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        handlers: dict[str, Callable[..., None]] = {
            "train": self.train,
            "score": self.score,
            "evaluate": self.evaluate,
            "train-leads": self.train_leads,
            "predict-leads": self.predict_leads,
            "report": self.report,
            "schedule": self.schedule,
        }
        try:
            handlers[action](**options)
        except (ValueError, OSError) as exc:  # InsufficientHistory, ColumnMismatch, bad CSVs, missing files
            raise CommandError(str(exc)) from None

    def train(
        self,
        *,
        csv: Path,
        target: str,
        positive: str,
        ignore: list[str],
        out: Path | None,
        seed: int,
        **_: Any,
    ) -> None:
        data = _training_input(csv=csv, target=target, positive=positive, ignore=ignore)
        model = predictive.train(data, seed=seed)
        path = out or Path(settings.DATA_DIR) / "models" / f"{csv.stem}-{model.version}.joblib"
        model.save(path)
        for line in predictive.describe_report(model.report):
            self.stdout.write(line)
        self.stdout.write(f"Saved the model to {path} and its report to {predictive.report_path(path)}.")

    def score(self, *, model: Path, csv: Path, output: Path, factors: int, **_: Any) -> None:
        trained = predictive.load(model)
        frame = _read_csv(csv)
        probabilities = trained.predict(frame)
        explained = trained.explain(frame, top=factors)
        frame["probability"] = probabilities.round(4)
        frame["factors"] = ["; ".join(f.describe() for f in row) for row in explained]
        frame.to_csv(output, index=False)
        self.stdout.write(f"Scored {len(frame)} rows with model {trained.version}; wrote {output}.")

    def evaluate(
        self,
        *,
        csv: Path,
        target: str,
        positive: str,
        ignore: list[str],
        folds: int,
        repeats: int,
        seed: int,
        **_: Any,
    ) -> None:
        data = _training_input(csv=csv, target=target, positive=positive, ignore=ignore)
        predictive.check_history(data.y, min_closed=folds * 2, min_per_class=folds)
        result = predictive.cross_validate(data.frame, data.y, folds=folds, repeats=repeats, seed=seed)
        positives = int(data.y.sum())
        self.stdout.write(
            f"{csv.name}: {len(data.y)} rows, {positives} with {target} = {positive!r}; stratified "
            f"{folds}-fold cross-validation × {repeats}, seed {seed} (mean ± sd over {folds * repeats} folds)"
        )
        for name, label in _METRICS:
            m = result[name]
            self.stdout.write(f"  {label:<26} {m['mean']:.4f} ± {m['sd']:.4f}")

    def train_leads(self, *, seed: int, no_predict: bool, **_: Any) -> None:
        model = predictive_data.lead_model_train(seed=seed)
        for line in predictive.describe_report(model.report):
            self.stdout.write(line)
        if not no_predict:
            self._predicted(predictive_data.leads_predict(model=model))

    def predict_leads(self, **_: Any) -> None:
        self._predicted(predictive_data.leads_predict())

    def _predicted(self, run: predictive_data.PredictionRun) -> None:
        self.stdout.write(
            f"Model {run.version}: predicted {run.predicted} open leads; cleared {run.cleared} closed ones."
        )

    def report(self, *, version: str | None, **_: Any) -> None:
        for line in predictive.describe_report(predictive_data.lead_model_report(version=version)):
            self.stdout.write(line)
        self.stdout.write("Saved versions: " + ", ".join(predictive_data.lead_model_versions()))

    def schedule(self, *, every_hours: float, **_: Any) -> None:
        pending = predictive_data.model_schedule_pending()
        if pending is not None:
            raise CommandError(
                f"A scheduled retraining is already queued (runs after {pending:%Y-%m-%d %H:%M} UTC)."
            )
        with transaction.atomic():
            predictive_data.model_schedule(every_hours=every_hours)
        self.stdout.write(
            f"Scheduled: the lead model retrains now ({timezone.now():%Y-%m-%d %H:%M} UTC) and every "
            f"{every_hours:g} hours; `leadflow worker` runs it."
        )


_METRICS = (
    ("roc_auc", "ROC AUC"),
    ("pr_auc", "PR AUC"),
    ("top20_capture", "Positives in the top 20 %"),
    ("brier", "Brier score"),
)


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise ValueError(f"No CSV file at {path}.")
    try:
        frame = pd.read_csv(path, low_memory=False)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is empty.") from None
    return frame


def _training_input(*, csv: Path, target: str, positive: str, ignore: list[str]) -> TrainingInput:
    frame = _read_csv(csv)
    unknown = [c for c in [target, *ignore] if c not in frame.columns]
    if unknown:
        names = ", ".join(map(repr, unknown))
        raise ValueError(f"{csv.name} has no column {names}; its columns: {', '.join(frame.columns)}.")
    y = predictive.target_from_column(frame[target], positive)
    return TrainingInput(
        frame=frame.drop(columns=[target, *ignore]), y=y, target=target, positive=positive, ignored=ignore
    )
