"""Search spaces as configuration: parse, check and sample them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

#: Distribution types and the keys each takes (besides ``type``).
DISTRIBUTIONS: dict[str, set[str]] = {
    "int": {"low", "high", "log", "step"},
    "float": {"low", "high", "log", "step"},
    "categorical": {"choices"},
}


class SearchSpaceError(ValueError):
    """A search space entry that cannot be used; the message names its key."""


def parse_search_space(
    space: Mapping[str, Mapping[str, Any]], allowed: set[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Check a search space from configuration before any trial runs.

    Args:
        space: ``{parameter: {type: int|float|categorical, low, high, log, step, choices}}``.
        allowed: Parameter names the estimator accepts; None skips that check.

    Returns:
        The same space as plain dicts, ``log`` defaulting to False.

    Raises:
        SearchSpaceError: Naming the offending parameter and what is wrong with it.
    """
    if not space:
        raise SearchSpaceError("tuning search space is empty: give at least one parameter.")
    parsed = {}
    for name, spec in space.items():
        where = f"search space parameter {name!r}"
        if allowed is not None and name not in allowed:
            raise SearchSpaceError(f"{where}: unknown parameter of the estimator.")
        kind = spec.get("type")
        if kind not in DISTRIBUTIONS:
            raise SearchSpaceError(
                f"{where}: unknown distribution type {kind!r}; use one of {sorted(DISTRIBUTIONS)}."
            )
        extra = set(spec) - DISTRIBUTIONS[kind] - {"type"}
        if extra:
            raise SearchSpaceError(f"{where}: unexpected key(s) {sorted(extra)} for type {kind!r}.")
        entry = dict(spec)
        if kind == "categorical":
            if not spec.get("choices"):
                raise SearchSpaceError(f"{where}: 'choices' must be a non-empty list.")
        else:
            _check_range(where, kind, entry)
        parsed[name] = entry
    return parsed


def _check_range(where: str, kind: str, entry: dict[str, Any]) -> None:
    if "low" not in entry or "high" not in entry:
        raise SearchSpaceError(f"{where}: {kind} needs 'low' and 'high'.")
    low, high = entry["low"], entry["high"]
    number = int if kind == "int" else (int, float)
    if (
        isinstance(low, bool)
        or isinstance(high, bool)
        or not isinstance(low, number)
        or not isinstance(high, number)
    ):
        raise SearchSpaceError(
            f"{where}: 'low' and 'high' must be {kind} numbers, got {low!r} and {high!r}."
        )
    if low > high:
        raise SearchSpaceError(f"{where}: low ({low}) > high ({high}).")
    entry["log"] = bool(entry.get("log", False))
    if entry["log"] and low <= 0:
        raise SearchSpaceError(f"{where}: a log scale needs low > 0, got {low}.")
    if entry["log"] and "step" in entry:
        raise SearchSpaceError(f"{where}: 'step' cannot be combined with 'log'.")


def suggest(trial: Any, space: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Draw one set of parameters from a parsed space.

    Args:
        trial: An ``optuna.Trial``.
        space: Output of :func:`parse_search_space`.

    Returns:
        Parameter name -> value.
    """
    values = {}
    for name, spec in space.items():
        kind = spec["type"]
        if kind == "categorical":
            values[name] = trial.suggest_categorical(name, list(spec["choices"]))
        else:
            suggest_fn = trial.suggest_int if kind == "int" else trial.suggest_float
            kwargs = {"log": spec["log"]} | ({"step": spec["step"]} if "step" in spec else {})
            values[name] = suggest_fn(name, spec["low"], spec["high"], **kwargs)
    return values


def fingerprint(config: Mapping[str, Any]) -> str:
    """A short stable hash of a configuration (to refuse mixing studies).

    Args:
        config: JSON-serialisable configuration.

    Returns:
        12 hex digits.
    """
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]
