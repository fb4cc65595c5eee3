"""A handler's exact forms and the choice among them: the cheapest form the target accepts.

A handler that can lower its op in several exact ways offers them all::

    return ctx.choose(Form("one-hot deconvolution", lambda ctx: ...), Form("slice and concat", ...))

Each form's ``emit(ctx)`` emits layers as handlers do and returns the op's blob(s). :func:`choose` emits
each form on trial (the builder is rewound after), lints its layers against the target
(pt2caffe.net.targets), prices the legal ones with the target's cost (pt2caffe.net.cost), and emits
the cheapest for real; ties go to the form offered first. No legal form: one line naming the op, its
module and source line, the rule the last form offered breaks, and the target.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..errors import Pt2CaffeError
from ..net.cost import cost
from ..net.targets.check import new_violations


@dataclass(frozen=True)
class Form:
    """One exact way to lower an op: ``label`` names it (in refusals and reports); ``emit(ctx)`` emits its
    layers through the OpContext and returns what the handler would return."""

    label: str
    emit: Callable


@dataclass(frozen=True)
class Trial:
    form: Form
    problem: str | None  # why the target refuses it (None: legal)
    price: float


def choose(ctx, forms: tuple[Form, ...]):
    """Emit the cheapest of ``forms`` the target accepts and return its result.

    Raises Pt2CaffeError (via ``ctx.fail``) when the target accepts none of them.
    """
    if not forms:
        raise ValueError("choose() needs at least one form")
    builder = ctx.builder
    if len(forms) == 1 and not builder.target.rules:
        return forms[0].emit(ctx)
    trials = [_trial(ctx, form) for form in forms]
    legal = [trial for trial in trials if trial.problem is None]
    if not legal and builder.strict:
        raise ctx.fail(f"no form of it obeys target {builder.target.name}: {trials[-1].problem}")
    if not legal:
        return forms[0].emit(ctx)  # the default target only reports (NAME.json "lint")
    best = min(legal, key=lambda trial: trial.price)
    return best.form.emit(ctx)


def _trial(ctx, form: Form) -> Trial:
    builder = ctx.builder
    mark = builder.mark()
    try:
        form.emit(ctx)
        new = builder.layers[mark[0]:]
        violations = new_violations(builder, new)
        problem = violations[0].line(builder.target.name) if violations else None
        return Trial(form, problem, cost(new, builder.target, builder.writers))
    except Pt2CaffeError as error:
        problem, nested = str(error), f"{ctx.fail('')}no form of it obeys target {builder.target.name}: "
        while problem.startswith(nested):  # a nested choice refused: its problem, the op not named twice
            problem = problem[len(nested):]
        return Trial(form, problem, float("inf"))
    finally:
        builder.rewind(mark)
