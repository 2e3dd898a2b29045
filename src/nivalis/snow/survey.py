"""When the layers were laid down: the survey year of a data set and the year of each layer under the surface.

A spring survey's first layer under the surface is the year before the flights (seed 000 §I: 2012 flights,
layers 2011, 2010, ...). The survey year comes from ``--survey-year`` when given, else from the ``YYYYMMDD``
dates in the file names, else from the GPS time in the files, else `DEFAULT_SURVEY_YEAR`.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

from nivalis.errors import UserError
from nivalis.snow.config import SnowConfig
from nivalis.snow.readers.dispatch import load_radargrams
from nivalis.snow.readers.radargram import Radargram, year_from_name
from nivalis.snow.readers.seed_release import is_seed_release
from nivalis.snow.units import FirnModel

#: when no file name date or GPS time tells the survey year (seed 000 §I: 2012 flights)
DEFAULT_SURVEY_YEAR = SnowConfig.survey_year
#: where a year came from when the user gave it
GIVEN = "--survey-year"


def detect_survey_year(path: str | os.PathLike) -> tuple[int, str]:
    """(survey year, where it came from): file name dates, else the GPS time of the first file, else 2012."""
    path = Path(path)
    files: list[Path] = []
    if path.is_dir():
        files = sorted((path / "image").glob("*.mat")) if is_seed_release(path) else sorted(path.rglob("*.mat"))
    elif path.is_file():
        files = [path]
    years = Counter(y for y in (year_from_name(p) for p in files) if y is not None)
    if years:
        return years.most_common(1)[0][0], "file name date"
    for candidate in files[:3]:
        try:
            radargrams = load_radargrams(candidate)
        except UserError:
            continue
        if radargrams and radargrams[0].survey_year is not None:
            return radargrams[0].survey_year, radargrams[0].survey_year_source
    return DEFAULT_SURVEY_YEAR, f"default {DEFAULT_SURVEY_YEAR} (no YYYYMMDD date in the file names, no GPS time)"


def survey_year_of(data: str | os.PathLike, survey_year: int | None = None) -> tuple[int, str]:
    """(year, source) of a data set: `survey_year` when given, else `detect_survey_year`."""
    if survey_year is not None:
        return survey_year, GIVEN
    return detect_survey_year(data)


def is_default(source: str) -> bool:
    """Whether a survey year's source says that nothing in the data told it (a note worth printing)."""
    return source.startswith("default")


def layer_years(survey_year: int, layers: int) -> list[int]:
    """The year of each of `layers` layers under the surface, top-down: the year before the survey first."""
    return [survey_year - 1 - i for i in range(layers)]


def dated_summary(radargram: Radargram, *, rows_needed: int, columns: int | None, firn: FirnModel,
                  survey_year: int | None = None) -> dict[str, Any]:
    """`Radargram.summary` with the survey year (`survey_year`, else the radargram's own, else the default), where
    it came from, and the year of every layer (``layer_years``, top-down)."""
    info = radargram.summary(rows_needed=rows_needed, columns=columns, firn=firn)
    year = survey_year or radargram.survey_year or DEFAULT_SURVEY_YEAR
    info["survey_year"] = year
    info["survey_year_from"] = (GIVEN if survey_year else radargram.survey_year_source
                                or f"default {DEFAULT_SURVEY_YEAR}")
    info["layer_years"] = layer_years(year, len(info["thickness_px"]))
    return info


__all__ = ["DEFAULT_SURVEY_YEAR", "dated_summary", "detect_survey_year", "is_default", "layer_years",
           "survey_year_of"]
