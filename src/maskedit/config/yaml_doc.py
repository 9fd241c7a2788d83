"""Reading a manifest's YAML within bounds: size, nesting depth, values after alias expansion."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from maskedit.config.loading import shown
from maskedit.errors import InputError
from maskedit.paths import os_problem, path_problem

# A manifest is read whole before anything runs, so it is bounded: its size, how deep it nests
# and how many values it holds once YAML's aliases are expanded (an alias "bomb" is a few lines
# that expand to billions of values; 5,000 nested brackets overflow the parser's recursion).
MAX_MANIFEST_BYTES = 32 * 1024 * 1024
MAX_MANIFEST_DEPTH = 64
MAX_MANIFEST_VALUES = 1_000_000
# Keys whose values are text as written: `id: 010` stays "010" (not 8), `id: yes` stays "yes".
_TEXT_KEYS = frozenset({"id", "instruction", "image", "mask", "target"})
_STR_TAG = "tag:yaml.org,2002:str"
_NULL_TAG = "tag:yaml.org,2002:null"


def read_yaml(path: Path, where: str) -> Any:
    """Parse one YAML document within the bounds above; every failure is one `InputError` line.

    Depth is counted on the parser's events (which never recurse) before a tree is built; the
    tree's size is counted with aliases expanded before any Python object is built.
    """
    if (problem := path_problem(path)) is not None:
        raise InputError(f"{where}{problem}")
    try:
        try:
            st = path.stat()
        except OSError as err:  # missing, a symbolic link loop, no permission
            raise InputError(f"{where}{os_problem(err)}") from None
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{where}not a file")
        size = st.st_size
        if size > MAX_MANIFEST_BYTES:
            raise InputError(
                f"{where}{size:,} bytes is over the limit of {MAX_MANIFEST_BYTES:,} for a manifest"
            )
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"{where}not valid YAML (not UTF-8 text: {err.reason})") from None
    except OSError as err:
        raise InputError(f"{where}cannot be read ({os_problem(err)})") from None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        depth, aliases = 0, False
        for event in yaml.parse(text, Loader=loader):
            if isinstance(event, yaml.AliasEvent):
                aliases = True
            elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                depth += 1
                if depth > MAX_MANIFEST_DEPTH:
                    raise InputError(
                        f"{where}nested more than {MAX_MANIFEST_DEPTH} levels deep "
                        f"(line {event.start_mark.line + 1})"
                    )
            elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                depth -= 1
        node = yaml.compose(text, Loader=loader)
        if node is None:
            return None
        if aliases:  # without any, the document holds what its bounded size holds
            _check_expanded_size(node, where)
        _check_unique_keys(node, where)
        _keep_text_as_written(node)
        return yaml.SafeLoader("").construct_document(node)
    except yaml.YAMLError as err:
        detail = " ".join(str(err).split()) if str(err) else type(err).__name__
        raise InputError(f"{where}not valid YAML ({shown(detail, 200)})") from None


def _check_expanded_size(root: yaml.Node, where: str) -> None:
    """Count the values the document holds with every alias expanded (each shared node once, by
    memo); refuse a node that contains itself and a count over MAX_MANIFEST_VALUES."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            total = 1 + sum(sizes[id(child)] for child in _children(node))
            if total > MAX_MANIFEST_VALUES:
                raise InputError(
                    f"{where}expands to more than {MAX_MANIFEST_VALUES:,} values through its "
                    f"aliases (line {node.start_mark.line + 1}); write the cases out"
                )
            sizes[key] = total
            continue
        if key in sizes:
            continue
        if key in on_path:
            line = node.start_mark.line + 1
            raise InputError(f"{where}an alias refers to a value that contains it (line {line})")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _mappings(root: yaml.Node) -> Iterator[yaml.MappingNode]:
    """Every mapping of the document, each once (an alias shares its node)."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            yield node
        stack.extend(_children(node))


def _check_unique_keys(root: yaml.Node, where: str) -> None:
    """A key written twice in one mapping is refused: YAML readers keep the last without a word,
    and a case copied and half edited (two `image:` lines) would run the wrong photo."""
    for mapping in _mappings(root):
        keys: set[str] = set()
        for key, _ in mapping.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                continue
            if key.value in keys:
                line = key.start_mark.line + 1
                raise InputError(f"{where}key '{shown(key.value, 60)}' twice (line {line})")
            keys.add(key.value)


def _keep_text_as_written(root: yaml.Node) -> None:
    """Plain scalars under the text keys become strings as written (null stays null)."""
    for mapping in _mappings(root):
        for i, (key, value) in enumerate(mapping.value):
            if (
                isinstance(key, yaml.ScalarNode)
                and key.value in _TEXT_KEYS
                and isinstance(value, yaml.ScalarNode)
                and value.style in (None, "")  # plain (the C parser says "")
                and value.tag not in (_STR_TAG, _NULL_TAG)
            ):
                text = yaml.ScalarNode(_STR_TAG, value.value, value.start_mark, value.end_mark)
                mapping.value[i] = (key, text)
