"""Record classes (``@dataclass``) without the start-up cost of :mod:`dataclasses`.

The standard ``@dataclass`` writes each class's ``__init__``, ``__repr__`` and ``__eq__``
as source text and compiles it, and importing :mod:`dataclasses` pulls in ``inspect``
(with ``ast``, ``dis`` and ``tokenize``). With about fifty record classes on the
``--report`` path, that was a third of a refused-port run. This module provides the
subset of :mod:`dataclasses` portdoctor uses, built from closures, so defining a class
compiles nothing:

- ``@dataclass`` and ``@dataclass(frozen=True)``: ``__init__`` (positional or by keyword,
  defaults, ``default_factory``, ``__post_init__``), ``__repr__``, ``__eq__``,
  ``__match_args__``; frozen records refuse assignment and hash by their fields, others
  are unhashable, as with the standard decorator;
- ``field(default=..., default_factory=..., repr=..., compare=...)``;
- ``fields``, ``replace`` and ``asdict``.

Type checkers see the standard :mod:`dataclasses` (the ``TYPE_CHECKING`` branch), so
every record is checked as a real dataclass; ``tests/test_records.py`` holds this module
to the standard one's behaviour.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import FrozenInstanceError, asdict, dataclass, field, fields, replace
else:
    class FrozenInstanceError(AttributeError):
        """Assigning to a field of a frozen record."""

    class _Missing:
        __slots__ = ()

        def __repr__(self):
            return "MISSING"

    MISSING = _Missing()

    class Field:
        """One field of a record: its name, default (or factory) and whether repr/eq use it."""

        __slots__ = ("compare", "default", "default_factory", "name", "repr")

        def __init__(self, default=MISSING, default_factory=MISSING, repr=True, compare=True):
            if default is not MISSING and default_factory is not MISSING:
                raise ValueError("cannot specify both default and default_factory")
            self.name = ""
            self.default = default
            self.default_factory = default_factory
            self.repr = repr
            self.compare = compare

        def __repr__(self):
            return f"Field(name={self.name!r}, default={self.default!r}, default_factory={self.default_factory!r})"

    def field(*, default=MISSING, default_factory=MISSING, repr=True, compare=True):
        """A field with a default factory, or left out of ``repr`` or ``==``."""
        return Field(default, default_factory, repr, compare)

    def _is_classvar(annotation):
        text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
        return text.startswith(("ClassVar", "typing.ClassVar"))

    def _collect_fields(cls):
        collected = {}
        for base in reversed(cls.__mro__[1:]):
            for f in base.__dict__.get("__record_fields__", ()):
                collected[f.name] = f
        for name, annotation in cls.__dict__.get("__annotations__", {}).items():  # noqa: RUF063 - not inspect (its import is what this module avoids)
            if _is_classvar(annotation):
                continue
            value = cls.__dict__.get(name, MISSING)
            if isinstance(value, Field):  # the class attribute becomes the default, as @dataclass leaves it
                f = value
                if f.default is MISSING:
                    delattr(cls, name)
                else:
                    setattr(cls, name, f.default)
            else:
                f = Field(default=value)
            f.name = name
            collected[name] = f
        seen_default = False
        for f in collected.values():
            if f.default is not MISSING or f.default_factory is not MISSING:
                seen_default = True
            elif seen_default:
                raise TypeError(f"non-default argument {f.name!r} follows default argument")
        return tuple(collected.values())

    def _make_init(cls, all_fields, frozen):
        name_of = cls.__qualname__
        known = frozenset(f.name for f in all_fields)
        post_init = getattr(cls, "__post_init__", None) is not None
        assign = object.__setattr__ if frozen else setattr

        def __init__(self, *args, **kwargs):
            if len(args) > len(all_fields):
                raise TypeError(f"{name_of}.__init__() takes {len(all_fields) + 1} positional arguments "
                                f"but {len(args) + 1} were given")
            for key in kwargs:
                if key not in known:
                    raise TypeError(f"{name_of}.__init__() got an unexpected keyword argument {key!r}")
            for index, f in enumerate(all_fields):
                if index < len(args):
                    if f.name in kwargs:
                        raise TypeError(f"{name_of}.__init__() got multiple values for argument {f.name!r}")
                    value = args[index]
                elif f.name in kwargs:
                    value = kwargs[f.name]
                elif f.default is not MISSING:
                    value = f.default
                elif f.default_factory is not MISSING:
                    value = f.default_factory()
                else:
                    raise TypeError(f"{name_of}.__init__() missing 1 required positional argument: {f.name!r}")
                assign(self, f.name, value)
            if post_init:
                self.__post_init__()

        __init__.__qualname__ = f"{name_of}.__init__"
        return __init__

    def _make_methods(cls, all_fields, frozen):
        shown = tuple(f.name for f in all_fields if f.repr)
        compared = tuple(f.name for f in all_fields if f.compare)

        def __repr__(self):
            inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in shown)
            return f"{type(self).__qualname__}({inner})"

        def __eq__(self, other):
            if other.__class__ is not self.__class__:
                return NotImplemented
            return all(getattr(self, name) == getattr(other, name) for name in compared)

        methods = {"__init__": _make_init(cls, all_fields, frozen), "__repr__": __repr__, "__eq__": __eq__}
        if frozen:
            def __setattr__(self, name, value):
                raise FrozenInstanceError(f"cannot assign to field {name!r}")

            def __delattr__(self, name):
                raise FrozenInstanceError(f"cannot delete field {name!r}")

            def __hash__(self):
                return hash(tuple(getattr(self, name) for name in compared))

            methods.update(__setattr__=__setattr__, __delattr__=__delattr__)
        if cls.__dict__.get("__hash__") is None:  # the class wrote no __hash__ of its own (kept if it did)
            methods["__hash__"] = __hash__ if frozen else None
        return methods

    def _process(cls, frozen):
        all_fields = _collect_fields(cls)
        for name, method in _make_methods(cls, all_fields, frozen).items():
            if name in ("__init__", "__repr__", "__eq__", "__setattr__", "__delattr__") and name in cls.__dict__:
                continue  # the class wrote its own, as @dataclass keeps it
            setattr(cls, name, method)
        cls.__record_fields__ = all_fields
        cls.__match_args__ = tuple(f.name for f in all_fields)
        return cls

    def dataclass(cls=None, /, *, frozen=False):
        """``@dataclass`` or ``@dataclass(frozen=True)``: a record class (see the module's text)."""
        if cls is None:
            return lambda c: _process(c, frozen)
        return _process(cls, frozen)

    def fields(record_or_class):
        """The record's fields, in order."""
        try:
            return record_or_class.__record_fields__
        except AttributeError:
            raise TypeError("must be called with a record type or instance") from None

    def replace(record, /, **changes):
        """A copy of ``record`` with ``changes`` applied, built through ``__init__``."""
        values = {f.name: getattr(record, f.name) for f in fields(record)}
        values.update(changes)
        return type(record)(**values)

    def _to_plain(value):
        if hasattr(type(value), "__record_fields__"):
            return {f.name: _to_plain(getattr(value, f.name)) for f in type(value).__record_fields__}
        if isinstance(value, tuple) and hasattr(value, "_fields"):
            return type(value)(*[_to_plain(v) for v in value])
        if isinstance(value, (list, tuple)):
            return type(value)(_to_plain(v) for v in value)
        if isinstance(value, dict):
            return type(value)((_to_plain(k), _to_plain(v)) for k, v in value.items())
        return value

    def asdict(record):
        """The record as nested dicts, lists and tuples (leaves are shared, not deep-copied)."""
        if not hasattr(type(record), "__record_fields__"):
            raise TypeError("asdict() should be called on record instances")
        return _to_plain(record)

__all__ = ["FrozenInstanceError", "asdict", "dataclass", "field", "fields", "replace"]
