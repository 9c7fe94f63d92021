"""Tool implementations for the example specs (a spec names them as `tools.py:FUNCTION`)."""

import statistics


def convert_temperature(value: float, unit: str) -> float:
    """Convert `value` to the other unit: "c" means Celsius -> Fahrenheit, "f" the reverse."""
    if unit == "c":
        return round(value * 9 / 5 + 32, 2)
    return round((value - 32) * 5 / 9, 2)


def mean(numbers: list[int], precise: bool = False) -> float:
    """The arithmetic mean of a list of integers, rounded to 2 places unless `precise`."""
    result = statistics.fmean(numbers)
    return result if precise else round(result, 2)


def weather(city: str, days: int = 1) -> dict:
    """A canned forecast, so that examples run without a network."""
    return {"city": city, "days": [{"day": i + 1, "high_c": 21 + i, "rain": i % 2 == 1}
                                   for i in range(days)]}
