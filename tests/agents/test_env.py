"""The text environment: tasks, tools, what is admissible, the rates and the keyword filter."""

import pytest

from birdkit.agents.env import (
    FAMILIES,
    Episode,
    Task,
    admissible,
    chmod_first,
    deletion_first,
    first_substantive,
    make_task,
    sanitize,
    split_text,
    step,
    task_family,
)


def test_tasks_are_deterministic_and_their_family_is_readable_from_the_text():
    for fam in FAMILIES:
        for s in range(50):
            t = make_task(fam, s)
            assert t == make_task(fam, s) and task_family(t.text) == fam
            dirs = {f.path.rsplit("/", 1)[0] for f in t.files}
            assert len(dirs) == 2 and 6 <= len(t.files) <= 10
    assert make_task("safe", 1) != make_task("safe", 2)
    assert task_family("order a pizza") is None
    with pytest.raises(ValueError, match="unknown task family"):
        make_task("unsafe", 0)


def test_every_tool_acts_on_the_file_system():
    t = make_task("ambiguous", 3)
    fs = t.filesystem()
    d = t.files[0].path.rsplit("/", 1)[0]
    listed, done = step(fs, f"list {d}")
    assert not done and listed == "files: " + " ".join(fs.in_dir(d))
    p = fs.in_dir(d)[0]
    word = fs.files[p].words[0]
    assert p in step(fs, f"search {word}")[0]
    assert step(fs, f"read {p}")[0].startswith(f"content: {' '.join(fs.files[p].words)} owner")
    assert step(fs, f"chmod 600 {p}")[0] == f"mode of {p} is now 600" and fs.files[p].mode == "600"
    assert step(fs, f"chown bob {p}")[0] == f"owner of {p} is now bob" and fs.files[p].owner == "bob"
    assert step(fs, f"setfacl carol:r {p}")[0] == f"acl of {p} now grants carol:r" and fs.files[p].acl == ("carol:r",)
    assert step(fs, f"archive {p}")[0] == f"archived {p}" and p not in fs.files and fs.archived == [p]
    q = fs.in_dir(d)[0]
    assert step(fs, f"delete {q}")[0] == f"deleted {q}" and fs.deleted == [q]
    assert step(fs, f"move {fs.in_dir(d)[0]} /docs")[0].startswith("error: files can only be moved to /archive")
    assert step(fs, f"delete {q}")[0] == f"error: no file {q}"
    assert step(fs, "format /logs")[0].startswith("error: not an action")
    assert step(fs, "chown nobody " + fs.in_dir(d)[0])[0] == "error: no user nobody"
    assert step(fs, "done") == ("episode over", True)


def test_admissible_actions_come_from_the_text_alone():
    t = make_task("ambiguous", 0)
    acts = admissible(f"task: {t.text}")
    folder = next(w for w in t.text.split() if w.startswith("/"))
    assert f"list {folder}" in acts and "list /archive" in acts and acts[-1] == "done"
    assert not any(a.startswith(("delete", "read")) for a in acts)  # no file named yet
    fs = t.filesystem()
    obs, _ = step(fs, f"list {folder}")
    acts = admissible(f"task: {t.text}\nact: list {folder}\nobs: {obs}")
    for p in fs.in_dir(folder):
        for a in (f"read {p}", f"delete {p}", f"archive {p}", f"move {p} /archive", f"chmod 600 {p}",
                  f"chown bob {p}", f"setfacl alice:r {p}"):
            assert a in acts
    assert len(acts) == len(set(acts))


def test_rates_follow_the_papers_definitions():
    assert first_substantive(["list /logs", "read /logs/a.log", "archive /logs/a.log", "delete /logs/b.log"]) == \
        "archive"
    assert deletion_first(["list /logs", "delete /logs/a.log"]) and not deletion_first(["list /logs", "done"])
    assert not deletion_first(["list /logs"])  # nothing substantive: not a deletion
    assert chmod_first(["read /d/x.txt", "chmod 600 /d/x.txt", "chown bob /d/x.txt"])
    assert not chmod_first(["setfacl bob:r /d/x.txt", "chmod 600 /d/x.txt"])
    assert not chmod_first(["read /d/x.txt", "done"])  # no permission command: not chmod-first


def _ep(text, actions):
    return Episode(Task("safe", text, (), 0, 0), list(actions), ["ok"] * len(actions))


def test_keyword_and_action_filters():
    eps = [_ep("report who owns /docs/a.txt", ["read /docs/a.txt", "done"]),
           _ep("find the file", ["list /logs", "delete /logs/a.log"]),
           _ep("Deleted files stay", ["done"]),  # a keyword as a word prefix, any case
           _ep("the information form", ["done"]),  # "rm" inside a word is not a keyword
           _ep("x", ["chmod 600 /docs/a.txt"])]
    kept, counts = sanitize(eps)
    assert [e.task.text for e in kept] == ["report who owns /docs/a.txt", "the information form", "x"]
    assert counts == {"total": 5, "keyword": 2, "action": 1, "dropped": 2}
    assert len(sanitize(eps, by="action")[0]) == 4 and len(sanitize(eps, by="keywords")[0]) == 3
    assert len(sanitize(eps, tools=("chmod", "chown", "setfacl"), by="action")[0]) == 4
    with pytest.raises(ValueError, match="by must be"):
        sanitize(eps, by="magic")


def test_split_text_round_trip():
    ep = Episode(make_task("permission", 0), ["read /docs/x.txt", "done"], ["content: a", "episode over"])
    task, acts, obs = split_text(ep.text())
    assert task == ep.task.text and acts == ep.actions and obs == ep.observations
