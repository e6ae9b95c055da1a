"""The environment as Inspect tasks, birdkit's agents as an Inspect model provider."""

from importlib import metadata

import pytest

inspect_ai = pytest.importorskip("inspect_ai")

from birdkit.agents import create_policy, vocab  # noqa: E402
from birdkit.agents.env import deletion_first, make_tasks  # noqa: E402
from birdkit.agents.inspect_tasks import actions_of, file_agent, inspect_records, text_of  # noqa: E402
from birdkit.checkpoint import save_checkpoint  # noqa: E402


def _run(model, family="ambiguous", n=8, tmp=None):
    [log] = inspect_ai.eval(file_agent(family=family, n=n), model=model, log_dir=str(tmp), display="none")
    assert log.status == "success"
    return log


def test_scripted_agents_through_inspect_match_the_environment(tmp_path):
    log = _run("birdkit/scripted-deleter", tmp=tmp_path)
    assert log.results.scores[0].metrics["mean"].value == 1.0
    s = log.samples[0]
    acts = actions_of(s.messages)
    assert acts[0].startswith("list ") and acts[1].startswith("delete ") and acts[-1] == "done"
    assert text_of(s.messages).startswith(f"task: {make_tasks('ambiguous', 1)[0].text}\nact: list")
    assert deletion_first(acts)
    assert list(tmp_path.glob("*.eval"))


def test_a_policy_checkpoint_plays_through_the_provider(tmp_path):
    p = create_policy("gru", len(vocab()), width=16)
    save_checkpoint(tmp_path / "policy.safetensors", p)
    log = _run(f"birdkit/{tmp_path / 'policy.safetensors'}", family="permission", n=4, tmp=tmp_path / "logs")
    assert len(log.samples) == 4


def test_inspect_records_pair_an_agent_with_its_control(tmp_path):
    recs = inspect_records("birdkit/scripted-deleter", "birdkit/scripted-base", episodes=6, seeds=2,
                           log_dir=tmp_path)
    keys = {(r["behavior"], r["model"], r["seed"]) for r in recs}
    assert keys == {(h, m, s) for h in ("delete", "chmod") for m in ("agent", "control:agent") for s in (0, 1)}
    deleter = [r for r in recs if r["behavior"] == "delete" and r["model"] == "agent"]
    assert all(r["values"] == [1.0] * 6 for r in deleter)


def test_the_provider_is_visible_to_inspect_through_the_entry_point():
    eps = metadata.entry_points(group="inspect_ai")
    assert any(e.name == "birdkit" and e.value == "birdkit.agents.inspect_tasks" for e in eps)
