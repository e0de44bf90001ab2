"""Lineage through the environment: root -> child -> grandchild, like trace context."""

from __future__ import annotations

import pytest

from producers.lineage import ENV_LINEAGE, ENV_SESSION, LineageError, Scope, child_scope, current_scope


def test_a_root_run_has_no_ancestors_and_tells_its_child_who_it_is() -> None:
    root = child_scope({}, scope_id="r")
    assert root == Scope("r", ())
    assert root.child_env() == {ENV_SESSION: "r", ENV_LINEAGE: ""}


def test_nesting_at_any_depth() -> None:
    env: dict[str, str] = {}
    chain = []
    for name in ("root", "child", "grandchild", "great"):
        scope = child_scope(env, scope_id=name)
        chain.append(scope)
        env = {**env, **scope.child_env()}
    assert [s.lineage for s in chain] == [(), ("root",), ("root", "child"), ("root", "child", "grandchild")]
    assert env[ENV_LINEAGE] == "root,child,grandchild" and env[ENV_SESSION] == "great"


def test_new_scope_ids_are_unique() -> None:
    assert child_scope({}).session != child_scope({}).session


def test_lineage_flag_states_the_ancestors_outright() -> None:
    env = {ENV_SESSION: "p", ENV_LINEAGE: "a"}
    assert child_scope(env, lineage_flag="x,y", scope_id="z") == Scope("z", ("x", "y"))


def test_publish_and_watch_belong_to_the_scope_they_run_in() -> None:
    env = {ENV_SESSION: "s", ENV_LINEAGE: " a , b ,"}
    assert current_scope(env) == Scope("s", ("a", "b"))
    assert current_scope(env, lineage_flag="", session_flag="t") == Scope("t", ())
    assert current_scope({}) == Scope(None, ())


@pytest.mark.parametrize("bad", ["has space", "x" * 201, "semi;colon"])
def test_unusable_ids_are_refused(bad: str) -> None:
    with pytest.raises(LineageError):
        child_scope({ENV_SESSION: bad})
    with pytest.raises(LineageError):
        current_scope({}, lineage_flag=f"ok,{bad}")


def test_depth_is_bounded() -> None:
    with pytest.raises(LineageError):
        current_scope({ENV_LINEAGE: ",".join(f"s{n}" for n in range(65))})
