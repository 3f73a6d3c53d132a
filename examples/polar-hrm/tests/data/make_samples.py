"""Writes the sample HRM files in this folder (run: python make_samples.py).

They are made for this example from "Polar HRM2 File Format Description" (Polar Electro,
version 1.4, 2009), not copied from anyone's recording; see ../../ORIGIN.md.
"""

from __future__ import annotations

import math
from pathlib import Path

HERE = Path(__file__).parent

PARAMS = """[Params]
Version={version}
Monitor={monitor}
SMode={smode}
Date={date}
StartTime={start}
Length={length}
Interval={interval}
Upper1=0
Lower1=0
Upper2=0
Lower2=0
Upper3=160
Lower3=120
Timer1=0:00:00.0
Timer2=0:00:00.0
Timer3=0:00:00.0
ActiveLimit=0
MaxHR=190
RestHR=48
StartDelay=0
VO2max=52
Weight=64

[Note]
{note}

"""


def write(name: str, text: str) -> None:
    (HERE / name).write_bytes(text.replace("\n", "\r\n").encode("latin-1"))


def easy_run() -> None:
    """A 30-minute run with a foot pod (speed) and altitude, metric, 15 s samples, 6.1 km."""
    rows = []
    for i in range(120):
        hr = 120 + min(i, 30) + int(4 * math.sin(i / 7))
        speed = 122 + int(6 * math.sin(i / 11))  # 0.1 km/h: about 12.2 km/h
        altitude = 35 + int(10 * math.sin(i / 20))
        rows.append(f"{hr}\t{speed}\t{altitude}")
    trip = [61, 42, 1800, 35, 45, 1562, 1830, 1204]  # 6.1 km, 42 m up, avg 12.2 km/h * 128
    write(
        "easy-run-footpod.hrm",
        PARAMS.format(
            version=106,
            monitor=22,
            smode="10100000",
            date="20260302",
            start="07:05:00.0",
            length="0:30:00.0",
            interval=15,
            note="Easy run, river loop",
        )
        + "[Trip]\n"
        + "\n".join(map(str, trip))
        + "\n\n"
        + "[HRData]\n"
        + "\n".join(rows)
        + "\n",
    )


def ride_us_units() -> None:
    """A 40-minute ride, US units (miles, feet), version 1.07, 15 s samples, 10.0 miles."""
    rows = []
    for i in range(160):
        hr = 110 + min(i, 25)
        speed = 150 + (i % 5)  # 0.1 mph: about 15 mph
        cadence = 85 + (i % 3)
        altitude = 600 + (i % 40)
        rows.append(f"{hr}\t{speed}\t{cadence}\t{altitude}")
    trip = [100, 330, 2400, 610, 640, 1920, 2560, 3120]  # 10.0 mi, 330 ft up
    write(
        "ride-us-units.hrm",
        PARAMS.format(
            version=107,
            monitor=23,
            smode="111000110",
            date="20260305",
            start="17:30:00.0",
            length="0:40:00.0",
            interval=15,
            note="",
        )
        + "[Trip]\n"
        + "\n".join(map(str, trip))
        + "\n\n"
        + "[HRData]\n"
        + "\n".join(rows)
        + "\n",
    )


def heart_rate_only() -> None:
    """20 minutes of heart rate alone (no speed sensor): no distance, no sport in the file."""
    rows = [str(100 + (i % 20)) for i in range(240)]
    write(
        "heart-rate-only.hrm",
        PARAMS.format(
            version=106,
            monitor=11,
            smode="00000000",
            date="20260307",
            start="12:00:00.0",
            length="0:20:00.0",
            interval=5,
            note="",
        )
        + "[HRData]\n"
        + "\n".join(rows)
        + "\n",
    )


if __name__ == "__main__":
    easy_run()
    ride_us_units()
    heart_rate_only()
