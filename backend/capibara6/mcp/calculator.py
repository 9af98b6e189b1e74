"""A calculator for arithmetic expressions that cannot run code or hang the CPU.

The expression is parsed with ast and walked node by node; only numbers,
+ - * / // % **, parentheses, a few math functions and the constants pi, e
and tau are allowed (no eval, no names, no attributes). Every step is
bounded before it is computed: an integer result may have at most
MAX_INTEGER_BITS bits, so 9**9**9**9 is refused at once instead of filling
the memory for minutes.
"""

from __future__ import annotations

import ast
import math
import operator

from capibara6.kit.errors import BadRequest, PayloadTooLarge

MAX_INTEGER_BITS = 4096          # about 1,233 decimal digits
MAX_FACTORIAL = 450              # 450! is just under 4096 bits
MAX_NODES = 400

_BINARY = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
CONSTANTS = {"pi": math.pi, "e": math.e, "tau": math.tau}
FUNCTIONS = {
    "sqrt": math.sqrt, "exp": math.exp, "log": math.log, "log10": math.log10, "log2": math.log2,
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "asin": math.asin, "acos": math.acos,
    "atan": math.atan, "atan2": math.atan2, "sinh": math.sinh, "cosh": math.cosh, "tanh": math.tanh,
    "degrees": math.degrees, "radians": math.radians, "hypot": math.hypot,
    "abs": abs, "round": round, "floor": math.floor, "ceil": math.ceil, "min": min, "max": max,
    "factorial": math.factorial, "gcd": math.gcd,
}
# What people type for the operators, mapped to Python's spelling.
_SPELLINGS = {"×": "*", "·": "*", "÷": "/", "^": "**", "−": "-", "–": "-"}


class CalculationError(BadRequest):
    code = "invalid_expression"


def calculate(expression: str, *, max_chars: int = 500) -> int | float:
    """The value of expression. Raises PayloadTooLarge (413) or CalculationError (400)."""
    if len(expression) > max_chars:
        raise PayloadTooLarge(f"the expression is longer than {max_chars} characters", code="expression_too_long")
    source = expression
    for typed, python in _SPELLINGS.items():
        source = source.replace(typed, python)
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise CalculationError("the expression is not valid arithmetic") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise CalculationError(f"the expression has more than {MAX_NODES} parts")
    try:
        result = _evaluate(tree.body)
    except ZeroDivisionError:
        raise CalculationError("division by zero", code="division_by_zero") from None
    except OverflowError:
        raise CalculationError("the result is too large", code="result_too_large") from None
    except (ValueError, TypeError) as error:
        raise CalculationError(f"not computable: {error}") from None
    if isinstance(result, complex):
        raise CalculationError("the result is not a real number")
    if isinstance(result, float) and not math.isfinite(result):
        raise CalculationError("the result is too large", code="result_too_large")
    return result


def _evaluate(node: ast.AST):
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise CalculationError(f"only numbers are allowed, not {value!r}")
        return _checked(value)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        _check_size(node.op, left, right)
        return _checked(_BINARY[type(node.op)](left, right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.Name):
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        raise CalculationError(f"unknown name {node.id!r}; constants: {', '.join(CONSTANTS)}")
    if isinstance(node, ast.Call):
        return _call(node)
    raise CalculationError("only numbers, + - * / // % **, parentheses and the functions "
                           f"{', '.join(FUNCTIONS)} are allowed")


def _call(node: ast.Call):
    if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
        name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
        raise CalculationError(f"{name!r} is not an allowed function; allowed: {', '.join(FUNCTIONS)}")
    if node.keywords or any(isinstance(arg, ast.Starred) for arg in node.args):
        raise CalculationError("functions take plain arguments only")
    arguments = [_evaluate(arg) for arg in node.args]
    name = node.func.id
    if name == "factorial" and arguments and isinstance(arguments[0], int) and arguments[0] > MAX_FACTORIAL:
        raise CalculationError(f"factorial is limited to n <= {MAX_FACTORIAL}", code="result_too_large")
    if name == "round" and len(arguments) == 2 and isinstance(arguments[1], int) and abs(arguments[1]) > 1000:
        raise CalculationError("round() takes at most 1000 digits")
    return _checked(FUNCTIONS[name](*arguments))


def _check_size(op: ast.operator, left, right) -> None:
    """Refuse, before computing, an integer operation whose result would be too large."""
    if not (isinstance(left, int) and isinstance(right, int)):
        return
    if isinstance(op, ast.Pow) and right > 0 and abs(left) > 1:
        # |left| ** right has about right * log2|left| bits.
        if right * math.log2(abs(left)) > MAX_INTEGER_BITS:
            raise CalculationError(f"the result would have more than {MAX_INTEGER_BITS} bits",
                                   code="result_too_large")
    elif isinstance(op, ast.Mult) and left.bit_length() + right.bit_length() > MAX_INTEGER_BITS + 1:
        raise CalculationError(f"the result would have more than {MAX_INTEGER_BITS} bits",
                               code="result_too_large")


def _checked(value):
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INTEGER_BITS:
        raise CalculationError(f"the result would have more than {MAX_INTEGER_BITS} bits",
                               code="result_too_large")
    return value
