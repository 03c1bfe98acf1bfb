"""portdoctor.records behaves as the standard dataclasses for every feature portdoctor uses."""

from __future__ import annotations

import dataclasses

import pytest

from portdoctor import records


def _define(module):
    """The same classes, built with ``module``'s decorator."""

    @module.dataclass
    class Plain:
        name: str
        port: int = 0
        tags: list[str] = module.field(default_factory=list)
        secret: str = module.field(default="x", repr=False, compare=False)

    @module.dataclass(frozen=True)
    class Frozen:
        host: str
        port: int = 5432

    @module.dataclass
    class Child(Plain):
        extra: dict[str, int] = module.field(default_factory=dict)

    @module.dataclass
    class Posted:
        raw: str
        seen: list[str] = module.field(default_factory=list)

        def __post_init__(self) -> None:
            self.seen.append(self.raw.upper())

    @module.dataclass
    class Nested:
        inner: Frozen
        many: list[Frozen] = module.field(default_factory=list)
        pair: tuple[int, int] = (1, 2)
        table: dict[str, Frozen] = module.field(default_factory=dict)

    return Plain, Frozen, Child, Posted, Nested


OURS = _define(records)
THEIRS = _define(dataclasses)


def _both(index):
    return OURS[index], THEIRS[index]


def test_init_positional_keyword_defaults_and_repr():
    for cls in _both(0):
        a = cls("db", 5, ["x"])
        assert (a.name, a.port, a.tags, a.secret) == ("db", 5, ["x"], "x")
        b = cls(name="db")
        assert b.tags == [] and b.tags is not cls(name="other").tags  # a fresh list each time
    ours, theirs = _both(0)
    assert repr(ours("db", 1)).split("(", 1)[1] == repr(theirs("db", 1)).split("(", 1)[1]


@pytest.mark.parametrize("call", [
    lambda c: c(),
    lambda c: c("a", 1, [], "s", "too many"),
    lambda c: c("a", name="b"),
    lambda c: c("a", nope=1),
])
def test_bad_calls_raise_type_error_as_dataclasses_do(call):
    for cls in _both(0):
        with pytest.raises(TypeError):
            call(cls)


def test_eq_hash_and_frozen():
    for plain, frozen in ((OURS[0], OURS[1]), (THEIRS[0], THEIRS[1])):
        assert plain("a", secret="1") == plain("a", secret="2")  # compare=False
        assert plain("a") != plain("b")
        assert plain("a").__eq__(object()) is NotImplemented
        with pytest.raises(TypeError):
            hash(plain("a"))
        assert frozen("h") == frozen("h", 5432) and hash(frozen("h")) == hash(frozen("h", 5432))
        assert len({frozen("h"), frozen("h"), frozen("i")}) == 2
        with pytest.raises(AttributeError):
            frozen("h").port = 1  # type: ignore[misc]


def test_inheritance_post_init_and_match_args():
    for child, posted in ((OURS[2], OURS[3]), (THEIRS[2], THEIRS[3])):
        c = child("n", 1, [], "s", {"a": 1})
        assert c.extra == {"a": 1} and c.name == "n"
        assert child.__match_args__ == ("name", "port", "tags", "secret", "extra")
        assert posted("ab").seen == ["AB"]


def test_fields_replace_asdict():
    for module, (plain, frozen, _child, _posted, nested) in ((records, OURS), (dataclasses, THEIRS)):
        assert [f.name for f in module.fields(plain)] == ["name", "port", "tags", "secret"]
        changed = module.replace(frozen("h"), port=1)
        assert changed == frozen("h", 1)
        n = nested(frozen("a"), [frozen("b", 1)], (3, 4), {"k": frozen("c")})
        assert module.asdict(n) == {"inner": {"host": "a", "port": 5432},
                                    "many": [{"host": "b", "port": 1}], "pair": (3, 4),
                                    "table": {"k": {"host": "c", "port": 5432}}}
        with pytest.raises(TypeError):
            module.asdict(object())


def test_a_class_that_writes_its_own_methods_keeps_them():
    @records.dataclass(frozen=True)
    class Own:
        a: int

        def __repr__(self) -> str:
            return "own"

        def __hash__(self) -> int:
            return 7

    assert repr(Own(1)) == "own" and hash(Own(1)) == 7


def test_defining_a_record_compiles_nothing(monkeypatch):
    def no_compile(*args, **kwargs):
        raise AssertionError("compiled source")
    monkeypatch.setattr("builtins.compile", no_compile)
    monkeypatch.setattr("builtins.exec", no_compile)
    _define(records)
