"""The learning-rate schedules of the trainable layer (ops/trainable_dense.py) as power-of-two shifts.

The device multiplies by eta = 2**-k_t, k_t = k0 + (the number of breakpoints b with b <= t), t = steps + 1 (as
scikit-learn's t_). The host computes the breakpoints once from the float schedule (scikit-learn's formulas):
  constant      eta(t) = eta0                                  (no breakpoints: k_t = k0, a constant in the C)
  invscaling    eta(t) = eta0 / t**power_t
  optimal       eta(t) = 1 / (alpha (t0 + t - 1)), t0 = 1 / (typw alpha), typw = sqrt(1 / sqrt(alpha))
                (scikit-learn's "optimal" with its initial-rate heuristic; alpha is the L2 penalty's)
k_t is round(-log2 eta(t)) half away from zero, at least 0 (a decaying rate that starts above 1 starts at 1), so breakpoint j is the first t where -log2 eta(t) >= k0 + j - 1/2
(found by bisection: eta is non-increasing in t), at most MAX_BREAKPOINTS of them and k_t at most the cap the
layer's shifts allow (k_cap <= K_MAX). Breakpoints beyond 2**32 - 1 are never reached (steps is a uint32).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from ..errors import TinygenError
from ..qparams import round_half_away

KINDS = ("constant", "invscaling", "optimal")
K_MAX = 30  # eta >= 2**-30
MAX_BREAKPOINTS = 32
T_MAX = (1 << 32) - 1
DEFAULT = "constant:2^-7"
SPEC_HELP = "ETA or constant:ETA | invscaling:ETA0[:POWER_T] | optimal (with an L2 alpha); ETA as 0.01 or 2^-7"


def parse_rate(text: str) -> float:
    """A learning rate or alpha as a positive float: "0.01", "1e-3" or "2^-7"."""
    text = str(text).strip()
    match = re.fullmatch(r"2\^(-?\d+)", text)
    try:
        value = 2.0 ** int(match.group(1)) if match else float(text)
    except ValueError:
        value = float("nan")
    if not (math.isfinite(value) and value > 0):
        raise TinygenError(f"a learning rate or alpha must be a positive number such as 0.01 or 2^-7, not {text!r}")
    return value


def shift_of(value: float) -> int:
    """round(-log2 value) half away from zero: the power of two nearest value on a log scale."""
    return int(round_half_away(-math.log2(value)))


@dataclass
class Schedule:
    """A learning-rate schedule as shifts: k0, and the steps where the shift grows by one."""

    kind: str
    k0: int
    breakpoints: list[int] = field(default_factory=list)
    eta0: float = 1.0  # the float schedule the shifts approximate (for the float reference and the manifest)
    power_t: float = 0.5
    alpha: float | None = None

    def shift(self, t: int) -> int:
        """k_t for step t (1-based)."""
        return self.k0 + sum(1 for b in self.breakpoints if t >= b)

    def eta(self, t: int) -> float:
        """The float rate at step t that the shifts approximate."""
        if self.kind == "constant":
            return self.eta0
        if self.kind == "invscaling":
            return self.eta0 / t ** self.power_t
        typw = math.sqrt(1.0 / math.sqrt(self.alpha))
        return 1.0 / (self.alpha * (1.0 / (typw * self.alpha) + t - 1))

    def capped(self, k_cap: int) -> "Schedule":
        """The same schedule with k_t at most k_cap (breakpoints past it dropped, k0 lowered to it)."""
        k0 = min(self.k0, k_cap)
        return Schedule(self.kind, k0, self.breakpoints[:max(0, k_cap - k0)], self.eta0, self.power_t, self.alpha)

    @property
    def max_shift(self) -> int:
        return self.k0 + len(self.breakpoints)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "k0": self.k0, "breakpoints": list(self.breakpoints), "eta0": self.eta0,
                "power_t": self.power_t, "alpha": self.alpha,
                "compute": "eta_t = 2^-(k0 + #{b in breakpoints: b <= t}), t = steps + 1"}

    @classmethod
    def from_dict(cls, data: dict) -> "Schedule":
        schedule = cls(str(data["kind"]), int(data["k0"]), [int(b) for b in data["breakpoints"]], float(data["eta0"]),
                       float(data["power_t"]), None if data.get("alpha") is None else float(data["alpha"]))
        breaks = schedule.breakpoints
        if (schedule.kind not in KINDS or not 0 <= schedule.k0 <= K_MAX or len(breaks) > MAX_BREAKPOINTS
                or schedule.max_shift > K_MAX or any(not 1 <= b <= T_MAX for b in breaks)
                or any(a >= b for a, b in zip(breaks, breaks[1:]))):
            raise ValueError("learning-rate schedule out of range")
        return schedule


def _first_step_at(schedule: Schedule, level: float) -> int | None:
    """The first t in [1, T_MAX] with -log2 eta(t) >= level, or None."""
    def reached(t: int) -> bool:
        return -math.log2(schedule.eta(t)) >= level
    if not reached(T_MAX):
        return None
    low, high = 1, T_MAX
    while low < high:
        mid = (low + high) // 2
        low, high = (low, mid) if reached(mid) else (mid + 1, high)
    return low


def plan(spec: str | None, l2_alpha: float | None = None) -> Schedule:
    """The schedule of a --learning-rate SPEC (module doc), with breakpoints up to K_MAX."""
    parts = str(spec or DEFAULT).strip().split(":")
    if len(parts) == 1 and parts[0] not in KINDS:  # a bare rate ("0.01", "2^-7") is a constant one
        parts = ["constant", parts[0]]
    kind = parts[0]
    if kind not in KINDS or (kind == "constant" and len(parts) != 2) or (kind == "invscaling" and len(parts) not in (2, 3)) \
            or (kind == "optimal" and len(parts) != 1):
        raise TinygenError(f"unknown learning-rate schedule {spec!r}; use {SPEC_HELP}")
    if kind == "optimal":
        if not l2_alpha:
            raise TinygenError("the optimal learning-rate schedule needs an L2 alpha > 0 (--l2 ALPHA)")
        schedule = Schedule(kind, 0, alpha=float(l2_alpha))
    else:
        power_t = float(parts[2]) if len(parts) == 3 else 0.5
        if kind == "invscaling" and not (math.isfinite(power_t) and power_t > 0):
            raise TinygenError(f"invscaling's power_t must be a positive number, not {parts[2]!r}")
        schedule = Schedule(kind, 0, eta0=parse_rate(parts[1]), power_t=power_t)
    schedule.k0 = shift_of(schedule.eta(1))
    if kind != "constant":  # a decaying rate that starts above 1 (optimal with a small alpha) starts at 1
        schedule.k0 = min(max(schedule.k0, 0), K_MAX)
    if not 0 <= schedule.k0 <= K_MAX:
        raise TinygenError(f"the learning rate {schedule.eta(1):g} rounds to 2^{-schedule.k0}; tinygen takes rates "
                           f"from 1 down to 2^-{K_MAX}")
    if kind != "constant":
        for k in range(schedule.k0 + 1, K_MAX + 1):
            if len(schedule.breakpoints) == MAX_BREAKPOINTS:
                break
            t = _first_step_at(schedule, k - 0.5)
            if t is None:
                break
            schedule.breakpoints.append(max(t, schedule.breakpoints[-1] + 1 if schedule.breakpoints else 1))
    return schedule
