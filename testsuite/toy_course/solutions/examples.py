"""The toy course's example mistake: ``examples/partly_wrong.ipynb`` has 9 for 19 in Q2 (the
right count, not the right primes: 2 of its 3 points)."""

MISTAKES: list[tuple[str, str]] = [
    ("q2_primes = [2, 3, 5, 7, 11, 13, 17, 19]", "q2_primes = [2, 3, 5, 7, 9, 11, 13, 17]"),
]
