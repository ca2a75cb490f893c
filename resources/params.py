"""Dagster config and resource fields made from the pipeline's parameter dataclasses, so that each
setting (its name, type and default) is defined once, in ``pipeline/``."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing

import pydantic


def fields_of(params: type, exclude: tuple[str, ...] = ()) -> dict[str, tuple]:
    """Pydantic field definitions (type, default) of a dataclass's fields; tuples become lists (Dagster config has no tuples)."""
    hints = typing.get_type_hints(params)
    out = {}
    for f in dataclasses.fields(params):
        if f.name in exclude:
            continue
        kind, default = hints[f.name], f.default
        if typing.get_origin(kind) is tuple:
            kind, default = list[typing.get_args(kind)[0]], list(default)
        out[f.name] = (kind, default)
    return out


def model_from(name: str, base: type, params: type, doc: str, module: str, exclude: tuple[str, ...] = (), **extra) -> type:
    """A subclass of ``base`` (a Dagster ``Config`` or ``ConfigurableResource``) with the fields of ``params``
    (less ``exclude``) and ``extra`` ones (name=(type, default)). ``module`` must be where it is assigned, as ``name``."""
    return pydantic.create_model(name, __base__=base, __doc__=doc, __module__=module, **fields_of(params, exclude), **extra)


def params_of(config, params: type, **more):
    """The ``params`` dataclass holding a config's values of its fields (and ``more``)."""
    names = {f.name for f in dataclasses.fields(params)} - set(more)
    values = {n: getattr(config, n) for n in names if hasattr(config, n)}
    return params(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}, **more)


def config_digest(run_config: dict) -> str:
    """A short digest of a run's config (what it overrode), to tell runs apart."""
    return hashlib.sha1(json.dumps(run_config, sort_keys=True, default=str).encode()).hexdigest()[:12]
