"""@record: grove's data classes, declared as dataclasses are, at no start-up cost.

`dataclasses` compiles every class's __init__, __repr__, __eq__ and friends with exec() as
the class is defined, and imports `inspect` to do it: about a millisecond per class on a
small machine, 40-50 ms of every grove call, before any work. A record's methods are
shared functions that read the class's field table, so defining one costs what a plain
class costs. Only what grove uses is here: fields with defaults or default factories,
`compare=False` and `repr=False`, frozen classes, `replace`, `asdict` and `fields`.
Type checkers see it as a dataclass (dataclass_transform).
"""

from __future__ import annotations

from collections.abc import Callable

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if not TYPE_CHECKING:
    # Importing typing costs every grove call ~3 ms: at run time the decorators that type
    # checkers read only need to leave the function as it is.
    def overload(function):
        return function

    def dataclass_transform(**_):
        return lambda function: function

else:
    from typing import Any, TypeVar, dataclass_transform, overload

    T = TypeVar("T")

_MISSING: Any = object()


class Field:
    __slots__ = ("compare", "default", "factory", "name", "repr")

    def __init__(self, default: Any, factory: Callable[[], Any] | None, compare: bool, repr: bool):
        self.name = ""
        self.default = default
        self.factory = factory
        self.compare = compare
        self.repr = repr


@overload
def field(*, default: T, compare: bool = True, repr: bool = True) -> T: ...
@overload
def field(*, default_factory: Callable[[], T], compare: bool = True, repr: bool = True) -> T: ...
@overload
def field(*, compare: bool = True, repr: bool = True) -> Any: ...
def field(
    *,
    default: Any = _MISSING,
    default_factory: Callable[[], Any] | None = None,
    compare: bool = True,
    repr: bool = True,
) -> Any:
    return Field(default, default_factory, compare, repr)


class FrozenInstanceError(AttributeError):
    pass


@overload
@dataclass_transform(field_specifiers=(field,))
def record(cls: type[T], /) -> type[T]: ...
@overload
def record(*, frozen: bool = False) -> Callable[[type[T]], type[T]]: ...
def record(cls: type[T] | None = None, /, *, frozen: bool = False) -> Any:
    """Give cls an __init__ taking its annotated fields in order (defaults last), value
    equality, a repr and, when frozen, immutability and a hash."""

    def build(cls: type[T]) -> type[T]:
        table: list[Field] = []
        # Not inspect.get_annotations: importing inspect is part of what records avoid.
        for name, annotation in vars(cls).get("__annotations__", {}).items():
            if str(annotation).startswith(("ClassVar", "typing.ClassVar")):
                continue
            value = cls.__dict__.get(name, _MISSING)
            spec = value if isinstance(value, Field) else Field(value, None, True, True)
            spec.name = name
            if isinstance(value, Field):
                if spec.default is _MISSING:
                    delattr(cls, name)
                else:
                    setattr(cls, name, spec.default)
            table.append(spec)
        methods: dict[str, Any] = {
            "__record_fields__": tuple(table),
            "__init__": _init,
            "__repr__": _repr,
            "__eq__": _eq,
            "__hash__": None,  # mutable and compared by value: unhashable
        }
        if frozen:
            methods |= {
                "__setattr__": _frozen_setattr,
                "__delattr__": _frozen_delattr,
                "__hash__": _hash,
            }
        for name, method in methods.items():
            setattr(cls, name, method)
        return cls

    return build if cls is None else build(cls)


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    table: tuple[Field, ...] = type(self).__record_fields__
    if len(args) > len(table):
        raise TypeError(f"{type(self).__name__}() takes {len(table)} arguments, got {len(args)}")
    for i, spec in enumerate(table):
        if i < len(args):
            if spec.name in kwargs:
                raise TypeError(f"{type(self).__name__}() got two values for {spec.name!r}")
            value = args[i]
        elif spec.name in kwargs:
            value = kwargs.pop(spec.name)
        elif spec.factory is not None:
            value = spec.factory()
        elif spec.default is not _MISSING:
            value = spec.default
        else:
            raise TypeError(f"{type(self).__name__}() missing argument {spec.name!r}")
        object.__setattr__(self, spec.name, value)
    if kwargs:  # every field's keyword was taken out above: these name no field
        raise TypeError(f"{type(self).__name__}() got unexpected arguments {sorted(kwargs)}")
    post_init = getattr(self, "__post_init__", None)
    if post_init is not None:
        post_init()


def _values(obj: Any) -> tuple[Any, ...]:
    return tuple(getattr(obj, spec.name) for spec in obj.__record_fields__ if spec.compare)


def _eq(self: Any, other: object) -> Any:  # bool, or NotImplemented for another type
    if type(other) is not type(self):
        return NotImplemented
    return _values(self) == _values(other)


def _hash(self: Any) -> int:
    return hash(_values(self))


def _repr(self: Any) -> str:
    shown = ", ".join(
        f"{spec.name}={getattr(self, spec.name)!r}" for spec in self.__record_fields__ if spec.repr
    )
    return f"{type(self).__qualname__}({shown})"


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def is_record(obj: object) -> bool:
    return hasattr(type(obj), "__record_fields__")


def fields(obj: Any) -> tuple[Field, ...]:
    return tuple(obj.__record_fields__)


def replace(obj: T, /, **changes: Any) -> T:
    """A copy of obj with some fields changed (a frozen record included)."""
    current = {spec.name: getattr(obj, spec.name) for spec in fields(obj)}
    return type(obj)(**(current | changes))


def asdict(obj: Any) -> dict[str, Any]:
    """obj's fields as a dict, records, lists, tuples and dicts inside it copied too."""
    return {spec.name: _plain(getattr(obj, spec.name)) for spec in fields(obj)}


def _plain(value: Any) -> Any:
    if is_record(value):
        return asdict(value)
    if isinstance(value, list | tuple):
        return type(value)(_plain(item) for item in value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    return value
