"""The safe calculator: arithmetic works, everything else is a 4xx before any work is done."""

from __future__ import annotations

import math

import pytest

from capibara6.kit.errors import PayloadTooLarge
from capibara6.mcp.calculator import MAX_INTEGER_BITS, CalculationError, calculate


@pytest.mark.parametrize("expression, result", [
    ("1 + 2 * 3", 7),
    ("(1 + 2) * 3", 9),
    ("-2 ** 2", -4),
    ("2 ** -1", 0.5),
    ("10 / 4", 2.5),
    ("10 // 4", 2),
    ("10 % 4", 2),
    ("2^8", 256),
    ("3 × 4 ÷ 2", 6.0),
    ("sqrt(2) ** 2", pytest.approx(2.0)),
    ("round(pi, 2)", 3.14),
    ("max(1, 5, 3) + min(2, 4)", 7),
    ("factorial(10)", 3628800),
    ("log(e)", 1.0),
    ("hypot(3, 4)", 5.0),
    ("2 ** 4000", 2 ** 4000),
])
def test_arithmetic_is_computed(expression, result):
    assert calculate(expression) == result


@pytest.mark.timeout(30)  # a guard: an unbounded power would hang here, not fail
@pytest.mark.parametrize("expression, code", [
    ("9**9**9**9", "result_too_large"),
    ("10 ** 10 ** 10", "result_too_large"),
    ("2 ** 5000", "result_too_large"),
    ("(10 ** 1000) * (10 ** 1000)", "result_too_large"),
    ("factorial(100000)", "result_too_large"),
    ("2.0 ** 100000", "result_too_large"),
    ("exp(1000)", "result_too_large"),
    ("1 / 0", "division_by_zero"),
    ("5 // 0", "division_by_zero"),
    ("5 % 0", "division_by_zero"),
    ("__import__('os').system('true')", "invalid_expression"),
    ("open('/etc/passwd')", "invalid_expression"),
    ("(1).__class__", "invalid_expression"),
    ("x + 1", "invalid_expression"),
    ("'a' * 3", "invalid_expression"),
    ("[1, 2]", "invalid_expression"),
    ("True + 1", "invalid_expression"),
    ("1j * 1j", "invalid_expression"),
    ("lambda: 1", "invalid_expression"),
    ("1 if 1 else 2", "invalid_expression"),
    ("1 < 2", "invalid_expression"),
    ("1 << 10000", "invalid_expression"),
    ("sqrt(-1)", "invalid_expression"),
    ("(-8) ** 0.5", "invalid_expression"),
    ("log(0)", "invalid_expression"),
    ("round(1.5, ndigits=2)", "invalid_expression"),
    ("2 +", "invalid_expression"),
    ("", "invalid_expression"),
])
def test_anything_else_is_refused_with_a_code(expression, code):
    with pytest.raises(CalculationError) as raised:
        calculate(expression)
    assert raised.value.status == 400 and raised.value.code == code


def test_a_long_expression_is_413_before_it_is_parsed():
    with pytest.raises(PayloadTooLarge) as raised:
        calculate("1+" * 50_000 + "1", max_chars=500)
    assert raised.value.code == "expression_too_long"


def test_a_result_at_the_bound_is_allowed_and_one_bit_more_is_not():
    assert calculate(f"2 ** {MAX_INTEGER_BITS - 1}").bit_length() == MAX_INTEGER_BITS
    with pytest.raises(CalculationError):
        calculate(f"2 ** {MAX_INTEGER_BITS}")


def test_deep_nesting_is_refused_not_a_crash():
    with pytest.raises(CalculationError):
        calculate("(" * 240 + "1" + ")" * 240, max_chars=1000)
    assert math.isclose(calculate("((((1.5))))"), 1.5)
