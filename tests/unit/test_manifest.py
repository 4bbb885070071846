"""Loading and validating `ao/v1` manifests through `load_paths` / `load_text`.

Every YAML snippet is written with `textwrap.dedent`, so its first line is line 1 and the
line/column numbers asserted below can be checked by counting lines in the snippet. Documents
built with `project()` have a fixed layout: `name:` on line 4 (value at column 9), `spec:` on
line 5 and the spec body from line 6 on.
"""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import pytest

from reconciler.errors import EXIT_USAGE, UsageError
from reconciler.manifest.loader import (
    LoadedProject,
    ManifestError,
    ManifestIssue,
    load_paths,
    load_text,
)

# How pattern errors describe what was expected (loader._PATTERNS); the message then names the regex.
NAME = "a name of lowercase letters, digits and inner dashes, at most 40 characters"
WORKER_NAME = "a name of lowercase letters, digits, '.', '_' and '-', at most 64 characters"
BRANCH = "a branch name (letters, digits, '.', '_', '-', '/')"
ENV_NAME = "an environment variable name (letters, digits, '_'; not starting with a digit)"


def write(root: Path, relative: str, text: str) -> Path:
    """Write a dedented manifest at root/relative (creating folders) and return its path."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def project(name: str, spec: str = "  repo: .\n") -> str:
    """A small valid Project document; `spec` is the (already indented) body of `spec:`."""
    return f"apiVersion: ao/v1\nkind: Project\nmetadata:\n  name: {name}\nspec:\n{spec}"


def problems(*paths: Path | str, stdin: io.StringIO | None = None) -> list[ManifestIssue]:
    """Load `paths`, expecting a ManifestError; return its issues."""
    with pytest.raises(ManifestError) as caught:
        load_paths([str(p) for p in paths], stdin=stdin)
    return caught.value.issues


def only_problem(*paths: Path | str) -> ManifestIssue:
    found = problems(*paths)
    assert len(found) == 1, "\n".join(map(str, found))
    return found[0]


# ====================================================================== valid manifests


def test_single_document_is_loaded_with_its_source(tmp_path: Path) -> None:
    path = write(tmp_path, "shop.yaml", """\
        apiVersion: ao/v1
        kind: Project
        metadata:
          name: shop
        spec:
          repo: /srv/shop
          defaultBranch: develop
          workers:
            - name: login-bug
              issue: PROJ-7
              prompt: Fix the login redirect loop
    """)

    [loaded] = load_paths([str(path)])

    assert isinstance(loaded, LoadedProject)
    assert loaded.name == "shop"
    assert loaded.source == str(path)
    assert loaded.manifest.spec.repo == "/srv/shop"
    assert loaded.manifest.spec.defaultBranch == "develop"
    [worker] = loaded.manifest.spec.workers
    assert (worker.name, worker.issue, worker.prompt) == ("login-bug", "PROJ-7", "Fix the login redirect loop")


def test_several_documents_per_file_including_empty_ones(tmp_path: Path) -> None:
    text = (
        "---\n"
        + project("alpha")
        + "---\n"
        + "---\n"  # an empty document
        + "# a document holding only a comment\n"
        + "---\n"
        + project("beta")
        + "---\n"  # a trailing separator: one more empty document
    )
    path = write(tmp_path, "all.yaml", text)

    loaded = load_paths([str(path)])

    assert [p.name for p in loaded] == ["alpha", "beta"]
    assert all(p.source == str(path) for p in loaded)


def test_marks_of_each_document_count_lines_from_the_top_of_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "two.yaml", project("alpha") + "---\n" + project("beta"))

    alpha, beta = load_paths([str(path)])

    # alpha's name is on line 4; beta starts after alpha's 6 lines and the `---` on line 7.
    assert alpha.marks.at(("metadata", "name")) == (4, 9)
    assert beta.marks.at(("metadata", "name")) == (11, 9)


def test_directory_is_walked_recursively_in_sorted_order_skipping_hidden_and_editor_files(tmp_path: Path) -> None:
    root = tmp_path / "manifests"
    write(root, "30-last.yaml", project("delta") + "---\n" + project("epsilon"))
    write(root, "10-first.yaml", project("alpha"))
    write(root, "20-apps/b/deep.yml", project("gamma"))
    write(root, "20-apps/a.yaml", project("beta"))
    # None of these may be read: each one would be an error if it were.
    broken = "this: is: not: valid: yaml: [\n"
    for skipped in (
        ".git/config.yaml",
        ".hidden/project.yaml",
        "20-apps/.cache/x.yaml",
        ".#10-first.yaml",  # emacs lock file
        "#10-first.yaml#",  # emacs auto-save
        "10-first.yaml~",  # backup
        ".10-first.yaml.swp",  # vim swap file
        ".hidden.yaml",
        "README.md",
        "notes.txt",
    ):
        write(root, skipped, broken)

    loaded = load_paths([str(root)])

    assert [p.name for p in loaded] == ["alpha", "beta", "gamma", "delta", "epsilon"]
    assert [Path(p.source).relative_to(root).as_posix() for p in loaded] == [
        "10-first.yaml",
        "20-apps/a.yaml",
        "20-apps/b/deep.yml",
        "30-last.yaml",
        "30-last.yaml",
    ]


def test_files_and_directories_can_be_mixed_and_are_loaded_in_argument_order(tmp_path: Path) -> None:
    single = write(tmp_path, "z.yaml", project("zulu"))
    folder = tmp_path / "dir"
    write(folder, "a.yaml", project("alpha"))

    loaded = load_paths([str(single), str(folder)])

    assert [p.name for p in loaded] == ["zulu", "alpha"]


def test_stdin_is_read_from_the_dash_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    stdin = io.StringIO(project("from-stdin", "  repo: checkout\n"))

    [loaded] = load_paths(["-"], stdin=stdin)

    assert loaded.name == "from-stdin"
    assert loaded.source == "<stdin>"
    # With no file to be relative to, a relative repo resolves against the working directory.
    assert loaded.repo_path() == (tmp_path / "checkout").resolve()


def test_stdin_can_be_combined_with_files(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", project("alpha"))

    loaded = load_paths([str(path), "-"], stdin=io.StringIO(project("beta")))

    assert [(p.name, p.source) for p in loaded] == [("alpha", str(path)), ("beta", "<stdin>")]


def test_relative_repo_resolves_against_the_manifest_folder_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "deploy/manifests/shop.yaml", project("shop", "  repo: ../../src/shop\n"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(tmp_path)

    [loaded] = load_paths(["deploy/manifests/shop.yaml"])  # a relative path to the manifest, too
    monkeypatch.chdir(elsewhere)  # where we are when the path is used must not matter

    assert loaded.repo_path() == (tmp_path / "src" / "shop").resolve()
    assert loaded.repo_path().is_absolute()


def test_absolute_repo_is_kept_and_home_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    text = project("abs", "  repo: /srv/abs\n") + "---\n" + project("home", "  repo: ~/code/home\n")
    path = write(tmp_path, "m/two.yaml", text)

    absolute, home = load_paths([str(path)])

    assert absolute.repo_path() == Path("/srv/abs")
    assert home.repo_path() == tmp_path / "home" / "code" / "home"


@pytest.mark.parametrize(
    ("written", "expected"),
    [("123", "123"), ("0", "0"), ('"123"', "123"), ("1.0", "1"), ("PROJ-7", "PROJ-7"), ("null", None)],
)
def test_issue_numbers_become_text(tmp_path: Path, written: str, expected: str | None) -> None:
    path = write(tmp_path, "p.yaml", project("shop", f"  repo: .\n  workers:\n    - name: w\n      issue: {written}\n"))

    [loaded] = load_paths([str(path)])

    assert loaded.manifest.spec.workers[0].issue == expected


def test_defaults_of_a_minimal_project(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", project("shop", "  repo: .\n  workers:\n    - name: w\n"))

    [loaded] = load_paths([str(path)])
    spec = loaded.manifest.spec

    assert spec.restartPolicy == "OnFailure"
    assert spec.orchestrator.restartPolicy == "Always"
    assert spec.orchestrator.enabled is True
    assert spec.orchestrator.rules is None
    assert spec.runtime == "auto"
    assert spec.workspace == "worktree"
    assert spec.defaultBranch == "main"
    assert spec.sessionPrefix is None
    assert loaded.manifest.prefix == "shop"
    assert (spec.agent.preset, spec.agent.command, spec.agent.env) == (None, [], {})
    [worker] = spec.workers
    # A worker without its own policy, branch or agent inherits the project's (None = inherit).
    assert (worker.restartPolicy, worker.branch, worker.agent, worker.issue, worker.prompt) == (None,) * 5


def test_session_prefix_overrides_the_name_as_prefix(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", project("online-shop", "  repo: .\n  sessionPrefix: shop\n"))

    [loaded] = load_paths([str(path)])

    assert loaded.name == "online-shop"
    assert loaded.manifest.prefix == "shop"


def test_load_text_returns_projects_and_no_issues_for_valid_text(tmp_path: Path) -> None:
    projects, issues = load_text(project("alpha") + "---\n" + project("beta"), "inline.yaml", tmp_path)

    assert issues == []
    assert [p.name for p in projects] == ["alpha", "beta"]
    assert {p.base_dir for p in projects} == {tmp_path}


# ====================================================================== errors: position and wording


def test_unknown_key_points_at_the_key_and_lists_allowed_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "shop.yaml", """\
        apiVersion: ao/v1
        kind: Project
        metadata:
          name: shop
        spec:
          repo: .
          workers:
            - name: login
              prompt: hi
              priority: high
    """)

    issue = only_problem(path)

    assert (issue.source, issue.line, issue.column) == (str(path), 10, 7)
    assert issue.path == "spec.workers[0].priority"
    assert issue.message == (
        "unknown field 'priority'; expected one of: agent, branch, issue, name, prompt, restartPolicy"
    )
    assert str(issue) == f"{path}:10:7: spec.workers[0].priority: {issue.message}"


def test_unknown_top_level_key(tmp_path: Path) -> None:
    path = write(tmp_path, "shop.yaml", project("shop") + "labels:\n  team: web\n")

    issue = only_problem(path)

    assert (issue.line, issue.column, issue.path) == (7, 1, "labels")
    assert "unknown field 'labels'" in issue.message
    assert "apiVersion, kind, metadata, spec" in issue.message


def test_several_unknown_keys_in_one_mapping_are_each_reported_at_their_own_line(tmp_path: Path) -> None:
    path = write(tmp_path, "shop.yaml", project("shop", "  repo: .\n  replicas: 3\n  image: x\n"))

    found = problems(path)

    # In the order of the file (by line), not alphabetically by path.
    assert [(i.path, i.line, i.column) for i in found] == [("spec.replicas", 7, 3), ("spec.image", 8, 3)]


def test_missing_required_field_names_the_field(tmp_path: Path) -> None:
    path = write(tmp_path, "shop.yaml", """\
        apiVersion: ao/v1
        kind: Project
        metadata:
          name: shop
        spec:
          defaultBranch: main
    """)

    issue = only_problem(path)

    # Named by the missing field's own path, reported at the mapping that lacks it (spec's body: line 6, column 3).
    assert (issue.line, issue.column, issue.path) == (6, 3, "spec.repo")
    assert issue.message == "missing required field 'repo'"
    assert str(issue) == f"{path}:6:3: spec.repo: missing required field 'repo'"


@pytest.mark.parametrize(
    ("text", "path", "field", "line", "column"),
    [
        # Top-level fields: at the document's mapping, which starts on line 1.
        ("apiVersion: ao/v1\nkind: Project\nmetadata:\n  name: shop\n", "spec", "spec", 1, 1),
        ("apiVersion: ao/v1\nkind: Project\nspec:\n  repo: .\n", "metadata", "metadata", 1, 1),
        ("kind: Project\nmetadata:\n  name: shop\nspec:\n  repo: .\n", "apiVersion", "apiVersion", 1, 1),
        ("apiVersion: ao/v1\nmetadata:\n  name: shop\nspec:\n  repo: .\n", "kind", "kind", 1, 1),
        # ...or after leading comments, where that mapping starts.
        ("# shop\n\napiVersion: ao/v1\nkind: Project\nmetadata:\n  name: shop\n", "spec", "spec", 3, 1),
        ("apiVersion: ao/v1\nkind: Project\nmetadata: {}\nspec:\n  repo: .\n", "metadata.name", "name", 3, 11),
        (project("shop", "  repo: .\n  workers:\n    - prompt: no name\n"), "spec.workers[0].name", "name", 8, 7),
    ],
    ids=["spec", "metadata", "apiVersion", "kind", "after-comments", "metadata.name", "worker name"],
)
def test_every_missing_required_field_is_reported(
    tmp_path: Path, text: str, path: str, field: str, line: int, column: int
) -> None:
    issue = only_problem(write(tmp_path, "p.yaml", text))

    assert issue.path == path
    assert issue.message == f"missing required field {field!r}"
    assert (issue.line, issue.column) == (line, column)


@pytest.mark.parametrize(
    ("body", "path", "options", "line", "column"),
    [
        ("  restartPolicy: Sometimes\n", "spec.restartPolicy", "Always, OnFailure, Never", 7, 18),
        ("  runtime: docker\n", "spec.runtime", "auto, tmux, zellij", 7, 12),
        ("  workspace: None\n", "spec.workspace", "worktree, none", 7, 14),
        ("  agent:\n    preset: vim\n", "spec.agent.preset",
         "claude-code, codex, aider, opencode, gemini, shell, demo", 8, 13),
        ("  orchestrator:\n    restartPolicy: always\n", "spec.orchestrator.restartPolicy",
         "Always, OnFailure, Never", 8, 20),
        # A nullable enum: the message explains the enum, not "or null".
        ("  workers:\n    - name: w\n      restartPolicy: Sometimes\n", "spec.workers[0].restartPolicy",
         "Always, OnFailure, Never", 9, 22),
    ],
    ids=["restartPolicy", "runtime", "workspace", "preset", "orchestrator.restartPolicy", "worker.restartPolicy"],
)
def test_bad_enum_value_lists_the_options(
    tmp_path: Path, body: str, path: str, options: str, line: int, column: int
) -> None:
    issue = only_problem(write(tmp_path, "p.yaml", project("shop", "  repo: .\n" + body)))

    assert (issue.path, issue.line, issue.column) == (path, line, column)
    assert issue.message.startswith(f"expected one of {options}; got ")


def test_bad_project_name_shows_the_pattern_and_the_value(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", """\
        apiVersion: ao/v1
        kind: Project
        metadata:
          name: Shop
        spec:
          repo: .
    """)

    issue = only_problem(path)

    assert (issue.line, issue.column, issue.path) == (4, 9, "metadata.name")
    assert issue.message == (
        "expected a name of lowercase letters, digits and inner dashes, at most 40 characters, "
        "matching ^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$; got 'Shop'"
    )


@pytest.mark.parametrize(
    ("name_line", "body", "path", "expected", "value"),
    [
        ("  name: shop_1\n", "  repo: .\n", "metadata.name", NAME, "'shop_1'"),
        ("  name: -shop\n", "  repo: .\n", "metadata.name", NAME, "'-shop'"),
        ("  name: shop-\n", "  repo: .\n", "metadata.name", NAME, "'shop-'"),
        ("  name: " + "a" * 41 + "\n", "  repo: .\n", "metadata.name", NAME, repr("a" * 41)),
        # A `|` block scalar keeps its final newline: `$` must not match before it.
        ("  name: |\n    shop\n", "  repo: .\n", "metadata.name", NAME, repr("shop\n")),
        ("  name: shop\n", "  repo: .\n  sessionPrefix: Shop\n", "spec.sessionPrefix", NAME, "'Shop'"),
        ("  name: shop\n", "  repo: .\n  defaultBranch: -main\n", "spec.defaultBranch", BRANCH, "'-main'"),
        ("  name: shop\n", "  repo: .\n  workers:\n    - name: Login Bug\n", "spec.workers[0].name", WORKER_NAME,
         "'Login Bug'"),
        ("  name: shop\n", "  repo: .\n  workers:\n    - name: w\n      branch: a b\n", "spec.workers[0].branch",
         BRANCH, "'a b'"),
        ("  name: shop\n", "  repo: .\n  workers:\n    - name: w\n      branch: \"main\\n\"\n",
         "spec.workers[0].branch", BRANCH, repr("main\n")),
    ],
    ids=["underscore", "leading-dash", "trailing-dash", "too-long", "trailing-newline", "sessionPrefix",
         "defaultBranch", "worker-name", "branch", "branch-trailing-newline"],
)
def test_bad_names_are_rejected_with_a_description_and_the_pattern(
    tmp_path: Path, name_line: str, body: str, path: str, expected: str, value: str
) -> None:
    text = project("shop", body).replace("  name: shop\n", name_line, 1)
    issue = only_problem(write(tmp_path, "p.yaml", text))

    assert issue.path == path
    assert issue.message.startswith(f"expected {expected}, matching ^")
    assert issue.message.endswith(f"$; got {value}")


@pytest.mark.parametrize(
    ("body", "path", "message", "line", "column"),
    [
        ("  workers: {}\n", "spec.workers", "expected a list; got a mapping", 7, 12),
        ("  workers:\n    - login-bug\n", "spec.workers[0]", "expected a mapping; got 'login-bug'", 8, 7),
        ("  orchestrator:\n    enabled: maybe\n", "spec.orchestrator.enabled", "expected true or false; got 'maybe'",
         8, 14),
        ("  agent:\n    command: claude --yolo\n", "spec.agent.command", "expected a list; got 'claude --yolo'",
         8, 14),
        ("  agent:\n    env:\n      PORT: 8080\n", "spec.agent.env.PORT", "expected a string; got a number (8080)",
         9, 13),
        ("  workers:\n    - name: w\n      prompt: [fix, it]\n", "spec.workers[0].prompt",
         "expected a string or null; got a list", 9, 15),
        ("  workers:\n    - name: w\n      issue: 1.5\n", "spec.workers[0].issue",
         "expected a string or an integer or null; got a number (1.5)", 9, 14),
        ("  orchestrator: true\n", "spec.orchestrator", "expected a mapping; got a boolean", 7, 17),
    ],
    ids=["workers-mapping", "worker-string", "enabled", "command", "env-value", "prompt", "issue", "orchestrator"],
)
def test_wrong_type_says_what_was_expected(
    tmp_path: Path, body: str, path: str, message: str, line: int, column: int
) -> None:
    issue = only_problem(write(tmp_path, "p.yaml", project("shop", "  repo: .\n" + body)))

    assert (issue.path, issue.message) == (path, message)
    assert (issue.line, issue.column) == (line, column)


def test_wrong_api_version_and_kind_are_both_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", """\
        apiVersion: ao/v2
        kind: Deployment
        metadata:
          name: shop
        spec:
          repo: .
    """)

    found = problems(path)

    assert [(i.path, i.line, i.column, i.message) for i in found] == [
        ("apiVersion", 1, 13, "expected 'ao/v1'; got 'ao/v2'"),
        ("kind", 2, 7, "expected 'Project'; got 'Deployment'"),
    ]


@pytest.mark.parametrize(
    "text", ["just a string\n", "- a\n- list\n", "42\n"], ids=["scalar", "list", "number"]
)
def test_a_document_that_is_not_a_mapping(tmp_path: Path, text: str) -> None:
    issue = only_problem(write(tmp_path, "p.yaml", text))

    assert (issue.line, issue.column, issue.path) == (1, 1, "")
    assert issue.message.startswith("expected a mapping (a Project document); got ")


def test_yaml_syntax_error_points_at_the_offending_character(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", """\
        apiVersion: ao/v1
        kind: Project
        metadata:
          name: shop
        spec:
          repo: a: b
    """)

    issue = only_problem(path)

    assert (issue.source, issue.line, issue.column, issue.path) == (str(path), 6, 10, "")
    assert issue.message == "invalid YAML: mapping values are not allowed here"


def test_yaml_syntax_error_in_a_later_document_keeps_absolute_line_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", project("alpha") + "---\n" + project("beta", "\trepo: .\n"))

    issue = only_problem(path)

    assert (issue.line, issue.column) == (13, 1)  # the tab on the 6th line of the second document
    assert issue.message.startswith("invalid YAML: ")
    assert "\\t" in issue.message


def test_duplicate_yaml_key_points_at_the_second_key(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", """\
        apiVersion: ao/v1
        kind: Project
        metadata:
          name: shop
          name: shop2
        spec:
          repo: .
    """)

    issue = only_problem(path)

    assert (issue.line, issue.column, issue.path) == (5, 3, "metadata.name")
    assert issue.message == "duplicate key 'name'"


def test_duplicate_top_level_key(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", project("shop") + "spec:\n  repo: ..\n")

    issue = only_problem(path)

    assert (issue.line, issue.column, issue.path) == (7, 1, "spec")
    assert "duplicate key 'spec'" == issue.message


def test_duplicate_worker_name_is_reported_at_the_second_with_the_first_line(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", """\
        apiVersion: ao/v1
        kind: Project
        metadata:
          name: shop
        spec:
          repo: .
          workers:
            - name: login-bug
              prompt: one
            - name: docs
            - name: login-bug
              prompt: two
    """)

    issue = only_problem(path)

    assert (issue.line, issue.column, issue.path) == (11, 13, "spec.workers[2].name")
    assert "duplicate worker name 'login-bug'" in issue.message
    assert "first declared at line 8" in issue.message


def test_the_same_project_in_two_files_is_reported_at_the_second(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", project("shop"))
    second = write(tmp_path, "b.yaml", "# the same project again\n" + project("shop"))

    issue = only_problem(first, second)

    assert (issue.source, issue.line, issue.column, issue.path) == (str(second), 5, 9, "metadata.name")
    assert issue.message == f"project 'shop' is declared twice (also at {first}:4)"


def test_the_same_project_twice_in_one_file(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", project("shop") + "---\n" + project("shop"))

    issue = only_problem(path)

    assert (issue.line, issue.path) == (11, "metadata.name")
    assert f"(also at {path}:4)" in issue.message


def test_an_explicit_prefix_colliding_with_another_projects_name(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", project("alpha", "  repo: .\n  sessionPrefix: beta\n"))
    second = write(tmp_path, "b.yaml", project("beta"))

    issue = only_problem(first, second)

    # `beta` uses its name as prefix, so the name is what collides.
    assert (issue.source, issue.line, issue.column, issue.path) == (str(second), 4, 9, "metadata.name")
    assert issue.message == (
        f"session prefix 'beta' is already used by project 'alpha' ({first}:7); set a distinct spec.sessionPrefix"
    )


def test_two_explicit_prefixes_colliding(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml",
                 project("alpha", "  repo: .\n  sessionPrefix: web\n") + "---\n"
                 + project("beta", "  repo: .\n  sessionPrefix: web\n"))

    issue = only_problem(path)

    assert (issue.line, issue.column, issue.path) == (15, 18, "spec.sessionPrefix")
    assert "session prefix 'web' is already used by project 'alpha'" in issue.message


def test_distinct_prefixes_do_not_collide(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml",
                 project("alpha", "  repo: .\n  sessionPrefix: beta\n") + "---\n"
                 + project("beta", "  repo: .\n  sessionPrefix: alpha\n"))

    assert [p.manifest.prefix for p in load_paths([str(path)])] == ["beta", "alpha"]


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"

    issue = only_problem(missing)

    assert (issue.source, issue.line, issue.column, issue.path) == (str(missing), 0, 0, "")
    assert issue.message == "no such file or directory"
    assert str(issue) == f"{missing}: no such file or directory"


def test_directory_without_manifests(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    write(empty, "README.md", "# not a manifest\n")
    write(empty, ".git/HEAD.yaml", project("hidden"))

    issue = only_problem(empty)

    assert issue.source == str(empty)
    assert issue.message == "directory holds no *.yaml or *.yml files"


@pytest.mark.parametrize(
    "text", ["", "# only a comment\n", "---\n", "---\n# nothing\n---\n...\n"],
    ids=["empty", "comment", "one-separator", "separators"],
)
def test_a_file_with_no_documents(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, "p.yaml", text)

    issue = only_problem(path)

    assert issue.source == str(path)
    assert issue.message == "no Project documents found"


def test_non_utf8_file_is_reported_at_the_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    text = project("shop")
    path.write_bytes(text.encode() + b"# caf\xe9\n")

    issue = only_problem(path)

    assert issue.source == str(path)
    assert (issue.line, issue.column) == (text.count("\n") + 1, 6)
    assert issue.message == "not UTF-8 text (byte 0xe9); save the file as UTF-8"


# ====================================================================== all-or-nothing


def test_all_problems_of_all_documents_and_files_are_reported_together(tmp_path: Path) -> None:
    good = write(tmp_path, "10-good.yaml", project("good"))
    mixed = write(tmp_path, "20-mixed.yaml", """\
        apiVersion: ao/v1
        kind: Project
        metadata:
          name: valid-too
        spec:
          repo: .
        ---
        apiVersion: ao/v1
        kind: Project
        metadata:
          name: second
        spec:
          repo: .
          color: blue
        ---
        apiVersion: ao/v1
        kind: Project
        metadata:
          name: Third
        spec:
          repo: .
          runtime: docker
    """)
    broken = write(tmp_path, "30-broken.yaml", "apiVersion: [ao/v1\n")
    missing = tmp_path / "40-missing.yaml"

    with pytest.raises(ManifestError) as caught:
        load_paths([str(good), str(mixed), str(broken), str(missing)])
    error = caught.value

    assert [(i.source, i.line, i.path) for i in error.issues] == [
        (str(mixed), 14, "spec.color"),
        (str(mixed), 19, "metadata.name"),
        (str(mixed), 22, "spec.runtime"),
        (str(broken), 2, ""),
        (str(missing), 0, ""),
    ]
    lines = str(error).splitlines()
    assert lines[-1] == "5 problems in manifests; nothing was applied"
    assert lines[:-1] == list(map(str, error.issues))


def test_one_bad_document_rejects_the_valid_ones_next_to_it(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", project("good") + "---\n" + project("bad", "  repo: .\n  bogus: 1\n"))

    with pytest.raises(ManifestError):
        load_paths([str(path)])

    # load_text reports the same: the good project is parsed, the issue is reported alongside.
    projects, issues = load_text(path.read_text(), str(path), tmp_path)
    assert [p.name for p in projects] == ["good"]
    assert [(i.line, i.path) for i in issues] == [(14, "spec.bogus")]


def test_all_problems_within_one_document_are_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", """\
        apiVersion: ao/v1
        kind: Project
        metadata:
          name: shop
          team: web
        spec:
          repo: .
          runtime: docker
          workers:
            - name: Bad Name
              restartPolicy: Sometimes
    """)

    found = problems(path)

    assert [(i.line, i.path) for i in found] == [
        (5, "metadata.team"),
        (8, "spec.runtime"),
        (10, "spec.workers[0].name"),
        (11, "spec.workers[0].restartPolicy"),
    ]


def test_issues_are_sorted_by_file_then_line_then_column(tmp_path: Path) -> None:
    # Given in reverse order, and within a line the unknown key comes before the bad name.
    first = write(tmp_path, "a.yaml", """\
        apiVersion: ao/v1
        kind: Project
        metadata: {team: web, name: Shop}
        spec:
          repo: .
          runtime: docker
    """)
    second = write(tmp_path, "b.yaml", project("beta", "  repo: .\n  bogus: 1\n"))

    found = problems(second, first)

    assert [(i.source, i.line, i.column, i.path) for i in found] == [
        (str(first), 3, 12, "metadata.team"),
        (str(first), 3, 29, "metadata.name"),
        (str(first), 6, 12, "spec.runtime"),
        (str(second), 7, 3, "spec.bogus"),
    ]


def test_manifest_error_is_a_usage_error_with_exit_code_2(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as caught:
        load_paths([str(tmp_path / "missing.yaml")])
    error = caught.value

    assert isinstance(error, UsageError)
    assert error.exit_code == EXIT_USAGE == 2
    assert error.code == "MANIFEST_INVALID"
    assert str(error).splitlines()[-1] == "1 problem in manifests; nothing was applied"


def test_stdin_errors_are_attributed_to_stdin(tmp_path: Path) -> None:
    found = problems("-", stdin=io.StringIO(project("shop", "  repo: .\n  bogus: true\n")))

    assert [(i.source, i.line, i.column, i.path) for i in found] == [("<stdin>", 7, 3, "spec.bogus")]


# ====================================================================== env names and iterables


def test_invalid_env_variable_name_points_at_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", """\
        apiVersion: ao/v1
        kind: Project
        metadata:
          name: shop
        spec:
          repo: .
          agent:
            env:
              GOOD: x
              1BAD: y
    """)

    issue = only_problem(path)

    # At the offending key itself, not at the env mapping.
    assert (issue.line, issue.column, issue.path) == (10, 7, "spec.agent.env.1BAD")
    assert issue.message.startswith(f"expected {ENV_NAME}")
    assert issue.message.endswith("; got '1BAD'")


def test_no_documents_error_names_the_file_when_paths_is_an_iterator(tmp_path: Path) -> None:
    path = write(tmp_path, "empty.yaml", "")

    with pytest.raises(ManifestError) as caught:
        load_paths(iter([str(path)]))

    assert [i.source for i in caught.value.issues] == [str(path)]
