"""The one validator of review files, shared by the parser (`load_review`, so the review sensor and the assets),
the review server's save handler and `animproc run`: bounded JSON decoding, then strict pydantic models.

Strict means a value has the type the format documents or the file is refused: `"submitted": "false"`, `0` or
`[0]` is not a boolean, `keep: 1` is not `true`. Decoding is bounded so no input can raise anything but
ReviewFileError: integers of more than 20 digits (Python refuses to print those over 4,300 digits), NaN and
infinities (not JSON), nesting deeper than 32 levels (recursion) and more than 64 KiB of extra fields are
refused. Every key and name that becomes a folder follows the storage's path-component rule."""
from __future__ import annotations

import json
import math
from typing import Annotated, Any, Literal

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, TypeAdapter,
                      ValidationError, model_validator)

from animproc.errors import AnimprocError
from animproc.films import path_component_problem

FORMAT = "animproc-review/1"
KINDS = ("instances", "identities")
INSTANCE_CATEGORIES = ("character", "object", "background")
MAX_DEPTH = 32
MAX_INT_DIGITS = 20
MAX_EXTRA_BYTES = 64 * 1024
KNOWN_FIELDS = ("format", "film", "kind", "version", "submitted", "decided_by", "saved_at", "decisions")


class ReviewFileError(AnimprocError):
    def __init__(self, path: str, problem: str):
        self.path = str(path)
        super().__init__(f"{self.path}: {problem}")


class _Refused(ValueError):
    pass


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _Refused(f"an integer of {len(text.lstrip('-'))} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"the number {text[:40]} is out of range")
    return value


def _constant(text: str):
    raise _Refused(f"{text} is not JSON")


def _depth(doc: Any) -> int:
    deepest, stack = 0, [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            deepest = max(deepest, depth)
            if depth > MAX_DEPTH:
                break
            stack.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict) else value))
    return deepest


def decode_json(data: bytes | str, where: str) -> Any:
    """JSON within the bounds above; anything else raises ReviewFileError naming `where`."""
    try:
        doc = json.loads(data, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReviewFileError(where, f"not valid JSON (half-written or corrupt?): {exc}") from None
    except _Refused as exc:
        raise ReviewFileError(where, f"refused: {exc}") from None
    except RecursionError:
        raise ReviewFileError(where, f"refused: nested deeper than {MAX_DEPTH} levels") from None
    if _depth(doc) > MAX_DEPTH:
        raise ReviewFileError(where, f"refused: nested deeper than {MAX_DEPTH} levels")
    return doc


def _component(value: str) -> str:
    problem = path_component_problem(value)
    if problem:
        raise ValueError(f"{value!r} cannot be used as a folder name: {problem}")
    return value


Key = Annotated[StrictStr, AfterValidator(_component)]  # ids and cluster keys: exactly as written
Name = Annotated[StrictStr, AfterValidator(lambda v: _component(v.strip()))]  # typed by people: stripped first


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class InstanceDecision(_Strict):
    keep: StrictBool
    category: Literal[INSTANCE_CATEGORIES] | None = None


class ClusterDecision(_Strict):
    name: Name | None = None
    character: StrictBool = True


def character_folder(key: str, cluster: dict) -> str:
    """The folder a reviewed cluster's character gets under `characters/`: its name, else `character_{key}`."""
    return (cluster.get("name") or f"character_{key}").strip()


class VoiceDecision(_Strict):
    """A reviewer's speaker -> character mapping (character None: the voice is no character's)."""
    character: Name | None = None


class IdentityDecisions(_Strict):
    faces: dict[Key, Key] = Field(default_factory=dict)  # face id -> cluster key (or "noise")
    clusters: dict[Key, ClusterDecision] = Field(default_factory=dict)
    instances: dict[Key, Key] = Field(default_factory=dict)  # kept instance id -> cluster key (or "none")
    voices: dict[Key, VoiceDecision] = Field(default_factory=dict)  # diarization speaker -> its character

    @model_validator(mode="after")
    def _folders(self) -> IdentityDecisions:
        names = []
        for key, cluster in self.clusters.items():
            if cluster.character:
                folder = character_folder(key, cluster.model_dump())
                _component(folder)
                if cluster.name:
                    names.append(folder)
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"two clusters carry the same name ({', '.join(dupes)}): merge them instead")
        return self


class ReviewDocument(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")
    format: Literal[FORMAT]
    film: StrictStr
    kind: Literal[KINDS]
    version: Annotated[StrictInt, Field(ge=0)]
    submitted: StrictBool = False
    decided_by: Literal["person", "auto"] = "person"
    saved_at: StrictStr | None = None
    decisions: dict[StrictStr, Any]


_INSTANCE_DECISIONS = TypeAdapter(dict[Key, InstanceDecision])


MUST_BE = {"keep": "true or false", "version": "a non-negative integer", "decisions": "an object"}


def _problem(error: dict) -> str:
    loc = [str(p) for p in error["loc"] if p != "[key]"]
    field, kind, ctx = (loc[-1] if loc else "value"), error["type"], error.get("ctx") or {}
    text = {
        "bool_type": f"'{field}' must be true or false",
        "missing": f"'{field}' must be {MUST_BE[field]} (it is missing)" if field in MUST_BE else f"'{field}' is missing",
        "extra_forbidden": f"unknown field {field!r}",
        "dict_type": f"'{field}' must be an object", "model_type": f"'{field}' must be an object",
        "model_attributes_type": f"'{field}' must be an object",
        "string_type": f"'{field}' must be a string",
        "int_type": f"'{field}' must be a non-negative integer",
        "greater_than_equal": f"'{field}' must be a non-negative integer",
        "literal_error": f"unknown {field} {error.get('input')!r} (expected {ctx.get('expected')})",
        "value_error": str(ctx.get("error", error["msg"])),
    }.get(kind, error["msg"])
    place = " → ".join(repr(p) for p in (loc if kind == "value_error" else loc[:-1]))
    return f"{place}: {text}" if place else text


def _validated(adapter_or_model, value, where: str):
    try:
        if isinstance(adapter_or_model, TypeAdapter):
            return adapter_or_model.validate_python(value)
        return adapter_or_model.model_validate(value)
    except ValidationError as exc:
        problems = [_problem(e) for e in exc.errors(include_url=False)]
        more = f" (and {len(problems) - 3} more problems)" if len(problems) > 3 else ""
        raise ReviewFileError(where, "; ".join(problems[:3]) + more) from None


def validate_review(doc: Any, where: str, film: str, kind: str) -> tuple[ReviewDocument, dict, dict]:
    """The document's fields, its decisions as plain dicts in the documented shape and its extra fields."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ReviewFileError(where, f"not an animproc review file (expected format {FORMAT!r})")
    if doc.get("film") != film or doc.get("kind") != kind:
        raise ReviewFileError(where, f"is a {doc.get('kind')!r} review of film {doc.get('film')!r}, "
                                     f"expected {kind!r} of {film!r}")
    top = _validated(ReviewDocument, doc, where)
    extra = dict(top.model_extra or {})
    size = len(json.dumps(extra))
    if size > MAX_EXTRA_BYTES:
        raise ReviewFileError(where, f"refused: {size} bytes of extra fields (at most {MAX_EXTRA_BYTES})")
    if kind == "instances":
        decided = _validated(_INSTANCE_DECISIONS, top.decisions, where)
        decisions = {k: d.model_dump(exclude_unset=True) for k, d in decided.items()}
    else:
        ident = _validated(IdentityDecisions, top.decisions, where)
        decisions = {"faces": dict(ident.faces),
                     "clusters": {k: c.model_dump(exclude_unset=True) for k, c in ident.clusters.items()}}
        if ident.instances:  # absent when none: older reviews keep their decision version
            decisions["instances"] = dict(ident.instances)
        if ident.voices:
            decisions["voices"] = {k: v.model_dump() for k, v in ident.voices.items()}
    return top, decisions, extra
