"""Synthetic data with a planted signal for the predictive model's tests."""

import numpy as np
import pandas as pd


def planted(n: int, *, seed: int = 0) -> pd.DataFrame:
    """Rows where industry Software and a high `revenue` raise the odds of `won` = 'yes'; `noise` is noise."""
    rng = np.random.default_rng(seed)
    industry = rng.choice(["Software", "Retail", "Health", "Education"], n)
    revenue = rng.normal(size=n)
    logit = -1.0 + 2.0 * revenue + np.where(industry == "Software", 2.0, 0.0)
    won = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "industry": industry,
            "revenue": revenue.round(3),
            "noise": rng.normal(size=n).round(3),
            "won": np.where(won, "yes", "no"),
        }
    )
