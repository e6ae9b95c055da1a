"""The generic name registry behind models, datasets, corruptions and methods."""

import pytest

from birdkit._registry import Registry
from birdkit.errors import BirdkitError, UnknownNameError


def _reg(hint=None):
    reg = Registry("widget", list_hint=hint)

    @reg.register()
    def zeta():
        return "z"

    @reg.register("alpha", size=1, colour="red")
    def make_alpha():
        return "a"

    reg.add("alphabet", lambda: "ab", size=2)
    reg.add("beta", lambda: "b")
    return reg


def test_register_defaults_to_function_name_and_returns_it():
    reg = Registry("widget")

    def gizmo():
        return 7

    assert reg.register()(gizmo) is gizmo  # the decorator hands the function back unchanged
    assert reg.get("gizmo") is gizmo
    assert reg.get("gizmo")() == 7


def test_register_and_add():
    reg = _reg()
    assert reg.get("zeta")() == "z"
    assert reg.get("alpha")() == "a"
    assert reg.get("alphabet")() == "ab"
    assert "make_alpha" not in reg  # an explicit name replaces the function's own


def test_duplicate_registration_raises_and_keeps_the_first():
    reg = _reg()
    first = reg.get("alpha")
    with pytest.raises(ValueError, match="widget 'alpha' is already registered"):
        reg.add("alpha", lambda: "other")
    with pytest.raises(ValueError, match="already registered"):
        reg.register("zeta")(lambda: "other")

    def beta():
        return "other"

    with pytest.raises(ValueError, match="already registered"):
        reg.register()(beta)
    assert reg.get("alpha") is first
    assert reg.get("beta")() == "b"
    assert len(reg) == 4


def test_names_sorted_and_wildcards():
    reg = _reg()
    assert reg.names() == ["alpha", "alphabet", "beta", "zeta"]
    assert reg.names("alpha*") == ["alpha", "alphabet"]
    assert reg.names("*eta") == ["beta", "zeta"]
    assert reg.names("?eta") == ["beta", "zeta"]
    assert reg.names("[ab]*") == ["alpha", "alphabet", "beta"]
    assert reg.names("Alpha*") == []  # case-sensitive
    assert reg.names("nothing*") == []
    assert reg.names("") == reg.names() == reg.names(None)


def test_registered_keeps_insertion_order():
    reg = _reg()
    assert reg.registered() == ["zeta", "alpha", "alphabet", "beta"]
    reg.add("aardvark", lambda: None)
    assert reg.registered() == ["zeta", "alpha", "alphabet", "beta", "aardvark"]
    assert reg.names()[0] == "aardvark"
    # a copy: editing it does not edit the registry
    reg.registered().clear()
    assert len(reg.registered()) == 5


def test_meta():
    reg = _reg()
    assert reg.meta("alpha") == {"size": 1, "colour": "red"}
    assert reg.meta("alphabet") == {"size": 2}
    assert reg.meta("zeta") == {}
    with pytest.raises(UnknownNameError, match="Unknown widget 'alpah'"):
        reg.meta("alpah")


def test_meta_is_a_copy_of_the_keywords():
    reg = Registry("widget")
    meta = {"size": 3}
    reg.add("w", lambda: None, **meta)
    meta["size"] = 4
    assert reg.meta("w") == {"size": 3}


def test_unknown_name_lists_close_matches_and_hint():
    reg = _reg(hint="List them with `birdkit widgets`.")
    with pytest.raises(UnknownNameError) as e:
        reg.get("alpah")
    err = e.value
    msg = str(err)
    assert msg.startswith("Unknown widget 'alpah'. Did you mean: ")
    assert "'alpha'" in msg
    assert msg.endswith("? List them with `birdkit widgets`.")
    assert "'zeta'" not in msg
    assert "Known:" not in msg  # the hint replaces the listing
    assert (err.kind, err.name, err.known) == ("widget", "alpah", ["alpha", "alphabet", "beta", "zeta"])
    # a KeyError (so `except KeyError` works) and a BirdkitError, but str() is not quoted
    assert isinstance(err, KeyError) and isinstance(err, BirdkitError)
    assert not msg.startswith('"')


def test_unknown_name_without_hint_lists_known_names():
    reg = _reg()
    with pytest.raises(UnknownNameError) as e:
        reg.get("bta")
    msg = str(e.value)
    assert "Did you mean: 'beta'" in msg
    assert msg.endswith("Known: alpha, alphabet, beta, zeta.")


def test_unknown_name_without_close_match():
    reg = _reg()
    with pytest.raises(UnknownNameError) as e:
        reg.get("qqqqqqqq")
    msg = str(e.value)
    assert "Did you mean" not in msg
    assert msg == "Unknown widget 'qqqqqqqq'. Known: alpha, alphabet, beta, zeta."


def test_unknown_name_in_large_registry_does_not_dump_all_names():
    reg = Registry("widget")
    for i in range(30):
        reg.add(f"w{i:02d}", lambda: None)
    with pytest.raises(UnknownNameError) as e:
        reg.get("nope")
    assert "Known:" not in str(e.value)


def test_contains_len_iter():
    reg = _reg()
    assert "alpha" in reg and "beta" in reg
    assert "gamma" not in reg
    assert 3 not in reg
    assert len(reg) == 4
    assert list(reg) == ["alpha", "alphabet", "beta", "zeta"]
    assert len(Registry("empty")) == 0 and list(Registry("empty")) == []


def _spaced():
    """A registry with the namespace ``ext:`` resolving two outside names on demand."""
    reg = _reg()
    outside = {"big": 1, "bigger": 2}
    calls = []

    def resolve(rest):
        calls.append(rest)
        if rest not in outside:
            raise UnknownNameError("widget", f"ext:{rest}", [f"ext:{n}" for n in outside])
        return (lambda: outside[rest]), {"size": outside[rest]}

    reg.add_namespace("ext", resolve, lambda: list(outside))
    return reg, calls


def test_namespace_resolves_on_demand_without_registering():
    reg, calls = _spaced()
    assert reg.get("ext:big")() == 1 and reg.meta("ext:bigger") == {"size": 2}
    assert calls == ["big", "bigger"]  # resolved at each lookup, nothing cached
    assert "ext:big" in reg and "ext:nope" not in reg
    assert len(reg) == 4 and "ext:big" not in list(reg)  # not part of the registered names
    with pytest.raises(UnknownNameError, match=r"Unknown widget 'ext:bog'\. Did you mean: 'ext:big'"):
        reg.get("ext:bog")
    with pytest.raises(UnknownNameError, match="Unknown widget 'other:big'"):  # no such namespace
        reg.get("other:big")


def test_namespace_names_listed_only_for_their_prefix():
    reg, _ = _spaced()
    assert reg.names() == reg.names("*") == ["alpha", "alphabet", "beta", "zeta"]
    assert reg.names("ext:*") == ["ext:big", "ext:bigger"]
    assert reg.names("ext:bigg*") == ["ext:bigger"]
    with pytest.raises(ValueError, match="namespace 'ext'"):
        reg.add_namespace("ext", lambda rest: None, list)
    with pytest.raises(ValueError, match="plain word"):
        reg.add_namespace("a:b", lambda rest: None, list)
