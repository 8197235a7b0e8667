"""List every cache entry (name, hit, record schema) a study with extras touches: evidence that a refactor keeps
every cache key.

    python benchmarks/stage_keys.py full mnist before.json     # against ~/.cache/lussi (or $KEYS_CACHE)
    ... change the code ...
    python benchmarks/stage_keys.py full mnist after.json && diff before.json after.json

A missing entry stops the run instead of building it (nothing trains), unless KEYS_ALLOW_BUILD is set.
"""

import json
import os
import sys

from lussi.cache import Cache, cache_key
from lussi.study import run_study

seen = []
original = Cache.get_or_build


def _norm(schema):
    if isinstance(schema, dict):
        return {k: _norm(v) for k, v in schema.items()}
    if isinstance(schema, tuple):
        return [_norm(v) for v in schema]
    return getattr(schema, "__name__", repr(schema))


def recording(self, kind, material, build, *, rebuild=False, schema=None):
    key = cache_key({"kind": kind, **material})
    record, problem = self.verify(kind, key, schema=schema)
    seen.append({"name": f"{kind}-{key}", "hit": record is not None, "schema": json.dumps(_norm(schema), sort_keys=True)})
    if record is None and not os.environ.get("KEYS_ALLOW_BUILD"):
        raise SystemExit(f"MISS {kind}-{key} ({problem}): refusing to build")
    return original(self, kind, material, build, rebuild=rebuild, schema=schema)


def main(profile: str, dataset: str, out: str) -> None:
    Cache.get_or_build = recording
    cache = os.environ.get("KEYS_CACHE", os.path.expanduser("~/.cache/lussi"))
    study = run_study(profile, dataset=dataset, cache=cache, extras=True, progress=False)
    with open(out, "w") as file:
        json.dump({"profile": profile, "dataset": dataset, "keys": seen, "experiments": study.experiments}, file, indent=1)
    print(f"{len(seen)} cache entries, {sum(k['hit'] for k in seen)} hits", file=sys.stderr)


if __name__ == "__main__":
    main(*sys.argv[1:4])
