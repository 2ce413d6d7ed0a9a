""" "Copy as Python": a canvas written as a person writes it with Celery's own canvas functions.

Tasks the person's code can import are imported and called as `add.s(2, 3)`; the rest go
through `app.signature(...)`. Tested by running the code against a real app.
"""

from __future__ import annotations

import keyword
import unicodedata

from desktop.core.canvas.model import Canvas, ChainNode, ChordNode, Node, TaskNode

# Names the generated code binds itself: a task imported under one of them would shadow it.
_CODE_NAMES = frozenset({"app", "chain", "chord", "group", "workflow", "result"})


def _plain_name(text: str) -> bool:
    """Usable as written in Python source: an identifier, no keyword, and one that NFKC
    normalisation leaves alone (Python reads `ﬁ` as `fi`)."""
    return (
        text.isidentifier()
        and not keyword.iskeyword(text)
        and unicodedata.normalize("NFKC", text) == text
    )


def _task_names(node: Node) -> set[str]:
    if isinstance(node, TaskNode):
        return {node.task}
    kids = [*node.header, node.body] if isinstance(node, ChordNode) else node.children
    return set().union(*map(_task_names, kids))


def _task_imports(root: Node) -> dict[str, tuple[str, str]]:
    """Task name -> (module, attribute) for every task the person's code can import by its
    name: Celery names a task `<module>.<function>`, so `workers.tasks.add` is
    `from workers.tasks import add`. Not for a name without a module, with a part that is not
    an identifier, whose short name two modules share (one `add` cannot be both) or that the
    generated code uses itself; those stay `app.signature("name", ...)`."""
    by_short: dict[str, list[str]] = {}
    for name in _task_names(root):
        module, _, short = name.rpartition(".")
        parts = name.split(".")
        if module and module != "__future__" and all(map(_plain_name, parts)):
            by_short.setdefault(short, []).append(name)
    return {
        found[0]: (found[0].rpartition(".")[0], short)
        for short, found in by_short.items()
        if len(found) == 1 and short not in _CODE_NAMES
    }


def _call(node: TaskNode) -> str:
    """The arguments of `add.s(...)`: positional ones, then keywords, as `**{...}` when a key
    is not a plain name."""
    parts = [repr(value) for value in node.args]
    if all(map(_plain_name, node.kwargs)):
        parts += [f"{key}={value!r}" for key, value in node.kwargs.items()]
    elif node.kwargs:
        parts.append(f"**{node.kwargs!r}")
    return ", ".join(parts)


def _python(
    node: Node, indent: int, imported: dict[str, tuple[str, str]], used: set[tuple[str, str]]
) -> str:
    """The node's expression; its first line starts where the caller puts it, later lines are
    indented for `indent` levels. Adds the (module, name) imports it uses to `used`."""
    pad = "    " * indent
    options = ", ".join(f"{k}={v!r}" for k, v in node.options.items())
    settings = f".set({options})" if options else ""
    if isinstance(node, TaskNode):
        # `self` is the one keyword s() cannot take: it is s()'s own first parameter.
        if node.task in imported and "self" not in node.kwargs:
            method = "si" if node.immutable else "s"  # si(): ignores the previous result
            used.add(imported[node.task])
            return f"{imported[node.task][1]}.{method}({_call(node)}){settings}"
        parts = [repr(node.task)]
        if node.args:
            parts.append(f"args={tuple(node.args)!r}")
        if node.kwargs:
            parts.append(f"kwargs={node.kwargs!r}")
        if node.immutable:
            parts.append("immutable=True")
        parts += [f"{k}={v!r}" for k, v in node.options.items()]
        return f"app.signature({', '.join(parts)})"

    def items(nodes: list[Node], level: int) -> str:
        lead = "    " * level
        return "".join(f"{lead}{_python(n, level, imported, used)},\n" for n in nodes)

    inner = pad + "    "
    if isinstance(node, ChordNode):
        body = _python(node.body, indent + 1, imported, used)
        text = f"chord(\n{inner}[\n{items(node.header, indent + 2)}{inner}],\n{inner}{body},\n"
    elif isinstance(node, ChainNode):
        text = f"chain(\n{items(node.children, indent + 1)}"
    else:
        # A list, as Celery documents it: group(one_group) would take that group's tasks as
        # its own and drop the inner group's options.
        text = f"group(\n{inner}[\n{items(node.children, indent + 2)}{inner}]\n"
    return f"{text}{pad}){settings}"


def _kinds(node: Node) -> set[str]:
    """The canvas functions a tree is written with: chain, group, chord."""
    if isinstance(node, TaskNode):
        return set()
    kind = type(node).__name__.removesuffix("Node").lower()
    kids = [*node.header, node.body] if isinstance(node, ChordNode) else node.children
    return {kind}.union(*map(_kinds, kids))


def python_code(canvas: Canvas, app_module: str = "workers") -> str:
    """ "Copy as Python": the same workflow as a person writes it with Celery's canvas
    functions, `add.s(2, 3)` for each task the code can import. `app_module` is the profile's
    `-A` value (`proj` or `proj:celery_app`); importing the app binds shared tasks to it."""
    used: set[tuple[str, str]] = set()
    workflow = _python(canvas.root, 0, _task_imports(canvas.root), used)
    module, _, attribute = app_module.partition(":")
    names = {module: {"app" if attribute in ("", "app") else f"{attribute} as app"}}
    for task_module, short in used:
        names.setdefault(task_module, set()).add(short)
    title = "".join(c if c.isprintable() else " " for c in canvas.name)  # one comment line
    lines = [f"# {title or 'canvas'}: made with Celery Desk"]
    kinds = _kinds(canvas.root)
    if kinds:
        lines.append(f"from celery import {', '.join(sorted(kinds))}")
    lines.append("")
    lines += [f"from {m} import {', '.join(sorted(names[m]))}" for m in sorted(names)]
    lines += ["", f"workflow = {workflow}"]
    return "\n".join(lines) + "\nresult = workflow.apply_async()\n"
