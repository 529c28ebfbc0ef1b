"""The History tab's frames, without a view or a database: lines broken at pauses, alert markers
for every indicator, and the unusual-activity rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

import analytics
from analytics.frames import shape
from dashboard.web.views.history_frames import broken_at_gaps, indicator_frames, unusual_rows
from tests.fixtures import indicator_frame, pattern_frame


def test_a_line_stops_over_the_night_and_goes_on_the_next_morning():
    day = pd.to_datetime(["2025-01-23 15:00", "2025-01-23 15:15", "2025-01-23 15:30", "2025-01-23 15:35",
                          "2025-01-24 09:30", "2025-01-24 09:45"])
    aapl = pd.DataFrame({"t": day, "value": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "symbol": "AAPL"})
    msft = aapl.assign(t=aapl["t"] + pd.Timedelta(minutes=1), symbol="MSFT")  # interleaved with AAPL's
    out = broken_at_gaps(pd.concat([aapl, msft]), "t", "symbol", ["value"])
    for symbol, shift in (("AAPL", pd.Timedelta(0)), ("MSFT", pd.Timedelta(minutes=1))):
        line = out[out["symbol"] == symbol]
        assert line["value"].tolist()[:4] == [1.0, 2.0, 3.0, 4.0] and line["value"].tolist()[5:] == [5.0, 6.0]
        gap = line.iloc[4]  # one blank point, between the evening's last value and the morning's first
        assert np.isnan(gap["value"]) and day[3] + shift < gap["t"] < day[4] + shift
    assert broken_at_gaps(aapl.iloc[:4], "t", "symbol", ["value"])["value"].notna().all()  # 15 and 5 min: no gap



def test_bollinger_and_any_other_indicator_get_their_alert_markers():
    bands = indicator_frame(("AAPL", "BollingerBands", "2025-01-24 15:00", {"upper": 12.0, "middle": 10.0, "lower": 8.0}),
                            ("AAPL", "BollingerBands", "2025-01-24 15:01", {"upper": 12.5, "middle": 10.5, "lower": 8.5}))
    alerts = shape(pd.DataFrame({"symbol": ["AAPL", "AAPL", "AAPL"], "alert_type": ["BB_UPPER_BREAK", "RSI_OVERBOUGHT",
                                                                                   "STOCH_CROSS"],
                                 "alerted_at": pd.to_datetime(["2025-01-24 15:01:30"] * 3, utc=True),
                                 "data": [{}, {}, {}]}), "indicator_alerts")
    series, marks = indicator_frames("BollingerBands", bands, alerts)
    assert marks[["alert_type", "value"]].values.tolist() == [["BB_UPPER_BREAK", 10.5]]
    stoch = indicator_frame(("AAPL", "STOCH", "2025-01-24 15:00", {"value": 80.0}))
    assert indicator_frames("STOCH", stoch, alerts)[1]["alert_type"].tolist() == ["STOCH_CROSS"]



def test_without_a_baseline_the_table_says_why_instead_of_blank_scores():
    frame = pattern_frame(("AAPL", "Doji", "2025-01-23 15:00"), ("AAPL", "Doji", "2025-01-24 15:00"))
    rows = unusual_rows(analytics.unusual_activity(frame, min_baseline_days=5))
    assert rows[0]["z"] is None and rows[0]["note"] == "no baseline yet: 1 of 5 trading days recorded"
