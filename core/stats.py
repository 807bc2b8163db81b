"""Statistics behind every number shown (GUIDE §4): Wilson intervals, t intervals for the mean
effort, and the two-proportion test that decides whether a change is a change."""

import math
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

Z95 = NormalDist().inv_cdf(0.975)


@dataclass(frozen=True)
class Proportion:
    hits: int
    n: int
    low: float
    high: float

    @property
    def share(self) -> float:
        return self.hits / self.n


@dataclass(frozen=True)
class Mean:
    n: int
    mean: float
    low: float
    high: float


@dataclass(frozen=True)
class Change:
    delta: float  # difference of shares, current minus previous
    p_value: float

    @property
    def meaningful(self) -> bool:
        return self.p_value < 0.05


def wilson(hits: int, n: int, z: float = Z95) -> Proportion:
    if n <= 0:
        raise ValueError("a proportion needs n > 0")
    if not 0 <= hits <= n:
        raise ValueError("hits must lie between 0 and n")
    p = hits / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # At 0 and n the bounds are exactly 0 and 1; rounding would otherwise leave 1e-17 behind.
    low = 0.0 if hits == 0 else centre - half
    high = 1.0 if hits == n else centre + half
    return Proportion(hits, n, low, high)


def mean_interval(n: int, total: float, total_of_squares: float) -> Mean:
    """Mean with a 95 % Student-t interval, from the sums a SQL aggregate returns."""
    if n <= 0:
        raise ValueError("a mean needs n > 0")
    mean = total / n
    if n == 1:
        return Mean(n, mean, mean, mean)
    variance = max(0.0, (total_of_squares - n * mean * mean) / (n - 1))
    half = t_quantile(0.975, n - 1) * math.sqrt(variance / n)
    return Mean(n, mean, mean - half, mean + half)


def two_proportion_test(hits1: int, n1: int, hits2: int, n2: int) -> Change:
    """Pooled two-sided z-test of share 1 (current) against share 2 (previous)."""
    if n1 <= 0 or n2 <= 0:
        raise ValueError("both groups need n > 0")
    p1, p2 = hits1 / n1, hits2 / n2
    pooled = (hits1 + hits2) / (n1 + n2)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if spread == 0:
        return Change(p1 - p2, 1.0)
    z = (p1 - p2) / spread
    return Change(p1 - p2, 2 * (1 - NormalDist().cdf(abs(z))))


# From here on the expansion below is within 1e-10 of the exact quantile, and bisection on the
# exact CDF (tens of milliseconds at such df) would make every score with many efforts slow.
ASYMPTOTIC_DF = 100
NEWTON_DF = 5  # below, the expansion is no good start: bisection


@lru_cache(maxsize=1024)
def t_quantile(probability: float, df: int) -> float:
    """Inverse CDF of Student's t: by bisection on the exact CDF for small df, by the
    Cornish–Fisher expansion in 1/df (Abramowitz & Stegun 26.7.5) for large df."""
    if df <= 0:
        raise ValueError("degrees of freedom must be positive")
    if df >= ASYMPTOTIC_DF:
        return _t_expansion(probability, df)
    if df >= NEWTON_DF:
        return _t_newton(probability, df)
    low, high = -1000.0, 1000.0
    for _ in range(200):
        middle = (low + high) / 2
        if middle in (low, high):
            break  # as close as floats get
        if _t_cdf(middle, df) < probability:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def _t_newton(probability: float, df: int) -> float:
    """Newton's method on the exact CDF from the expansion's value, already close at such df:
    a few CDF evaluations instead of bisection's fifty."""
    log_density = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    t = _t_expansion(probability, df)
    for _ in range(20):
        density = math.exp(log_density - (df + 1) / 2 * math.log1p(t * t / df))
        step = (_t_cdf(t, df) - probability) / density
        t -= step
        if abs(step) <= 1e-14 * max(1.0, abs(t)):
            break
    return t


def _t_expansion(probability: float, df: int) -> float:
    z = NormalDist().inv_cdf(probability)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def _t_cdf(t: float, df: int) -> float:
    x = df / (df + t * t)
    tail = 0.5 * _regularized_beta(x, df / 2, 0.5)
    return 1 - tail if t > 0 else tail


def _regularized_beta(x: float, a: float, b: float) -> float:
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_fraction(x, a, b) / a
    return 1 - math.exp(log_front) * _beta_fraction(1 - x, b, a) / b


def _beta_fraction(x: float, a: float, b: float) -> float:
    """Lentz's continued fraction for the incomplete beta function."""
    tiny = 1e-300
    c, d = 1.0, 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 300):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return result
