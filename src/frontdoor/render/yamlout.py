"""YAML written the same way every time: sorted keys, block style, no aliases, strings kept strings.

PyYAML's safe_dump already quotes a string that would read back as something else ("1.2", "yes",
"on", "null", "0755"), because it resolves each plain scalar with the same rules it reads with; we
add no timestamps and never let an anchor/alias pair appear for a shared list.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Multi-line text (a contract file in a ConfigMap, an nginx snippet) as a literal block reads best.
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_str(value)


_Dumper.add_representer(str, _str)


def dump(document: Any) -> str:
    return yaml.dump(
        document,
        Dumper=_Dumper,
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
        width=4096,
    )


def dump_all(documents: Iterable[Any]) -> str:
    return "---\n".join(dump(d) for d in documents)
