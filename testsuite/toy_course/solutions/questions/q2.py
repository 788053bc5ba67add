"""Toy Q2 hidden checks: ``q2_primes`` lists the primes below 20 (how many, then which)."""

VALUES = ["q2_primes"]
PRIMES = [2, 3, 5, 7, 11, 13, 17, 19]


def _primes(submission) -> list:
    primes = submission.value("q2_primes")
    assert isinstance(primes, list), f"`q2_primes` must be a list, got {type(primes).__name__}"
    return primes


def check_count(submission) -> None:
    count = len(_primes(submission))
    assert count == len(PRIMES), f"`q2_primes` has {count} numbers; there are {len(PRIMES)}"


def check_primes(submission) -> None:
    primes = _primes(submission)
    assert primes == PRIMES, f"`q2_primes` is {primes!r}, not the primes below 20 in order"
