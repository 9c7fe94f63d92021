"""The seed article's three tools (S4, S5), as plain Python functions.

A spec names them as `tools.py:calculate_factorial`; the compiler reads the signature and the
docstring to build the JSON Schema the model sees, and the sandbox runs the function itself.
"""

import math


def calculate_factorial(n: int) -> int:
    """Return n! (the factorial of a non-negative integer n)."""
    if n < 0:
        raise ValueError(f"factorial is not defined for negative numbers (got {n})")
    return math.factorial(n)


def calculate_gcd(a: int, b: int) -> int:
    """Return the greatest common divisor of two integers a and b."""
    return math.gcd(a, b)


def is_prime(n: int) -> bool:
    """Return whether the integer n is a prime number."""
    if n < 2:
        return False
    return all(n % d for d in range(2, math.isqrt(n) + 1))
