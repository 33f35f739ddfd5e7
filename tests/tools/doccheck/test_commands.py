"""Finding and parsing the kubectl commands of a document."""

from __future__ import annotations

from pathlib import Path

import pytest

from zen_flow.tools.doccheck.commands import (
    PLACEHOLDER,
    CommandSyntaxError,
    is_placeholder,
    kubectl_commands,
    mark_placeholders,
    parse_command,
    shell_lines,
)


def write(tmp_path: Path, text: str, name: str = "DOC.md") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def args_of(tmp_path: Path, text: str) -> list[list[str]]:
    return [command.args for command in kubectl_commands(write(tmp_path, text))]


# --- where commands are ----------------------------------------------------------------------


def test_shell_blocks_hold_commands_other_blocks_do_not(tmp_path: Path) -> None:
    text = (
        "kubectl get prose\n"
        "```bash\nkubectl get a\n```\n"
        "```\nkubectl get b\n```\n"
        "```console\n$ kubectl get c\n```\n"
        "```yaml\n# kubectl get d\nkind: x\n```\n"
        "```python\nkubectl get e\n```\n"
    )
    assert args_of(tmp_path, text) == [["get", "a"], ["get", "b"], ["get", "c"]]


def test_a_prompt_is_not_part_of_the_command(tmp_path: Path) -> None:
    assert list(shell_lines(write(tmp_path, "```sh\n$ kubectl get a\n```\n"))) == [
        (2, "kubectl get a")
    ]


def test_continued_lines_are_one_command_at_the_first_line(tmp_path: Path) -> None:
    path = write(tmp_path, "text\n```bash\nkubectl get \\\n  jobs \\\n  -A\n```\n")
    ((number, line),) = list(shell_lines(path))
    assert number == 3
    assert line.split() == ["kubectl", "get", "jobs", "-A"]


def test_example_yaml_commands_are_its_comments(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "# A flow.\n#\n#   kubectl apply -f examples/x.yaml\nkind: JobFlow\n# not kubectl\n",
        "x.yaml",
    )
    assert list(shell_lines(path)) == [(3, "kubectl apply -f examples/x.yaml")]


def test_commented_out_commands_are_skipped(tmp_path: Path) -> None:
    text = "```bash\n# kubectl delete all\n#kubectl delete all\nkubectl get a # and b\n```\n"
    assert args_of(tmp_path, text) == [["get", "a"]]


def test_other_shell_code_need_not_parse(tmp_path: Path) -> None:
    assert args_of(tmp_path, "```bash\necho it's done\nkubectl get a\n```\n") == [["get", "a"]]


def test_where_names_the_file_and_line(tmp_path: Path) -> None:
    (command,) = kubectl_commands(write(tmp_path, "\n\n```bash\nkubectl get a\n```\n"))
    assert command.where == "DOC.md:4"
    assert command.text == "kubectl get a"


# --- splitting shell lines ---------------------------------------------------------------------


def test_pipes_sequences_and_subshells_split_commands(tmp_path: Path) -> None:
    text = (
        "```bash\n"
        "kubectl get a | grep x; kubectl get b && kubectl get c || true\n"
        "X=$(kubectl get d -o name) && echo $X\n"
        "```\n"
    )
    assert args_of(tmp_path, text) == [["get", "a"], ["get", "b"], ["get", "c"], ["get", "d"]]


def test_only_kubectl_invocations_count(tmp_path: Path) -> None:
    text = "```bash\necho kubectl get a; /usr/local/bin/kubectl get b\n```\n"
    assert args_of(tmp_path, text) == [["get", "b"]]


def test_redirection_targets_are_not_arguments(tmp_path: Path) -> None:
    text = (
        "```bash\n"
        "kubectl get a -o yaml > backup.yaml 2>/dev/null\n"
        "kubectl get b >> log\n"
        "kubectl get c > out.yaml d\n"
        "```\n"
    )
    assert args_of(tmp_path, text) == [["get", "a"], ["get", "b"], ["get", "c", "d"]]


def test_an_unclosed_quote_is_a_syntax_error(tmp_path: Path) -> None:
    path = write(tmp_path, "```bash\nkubectl get 'a\n```\n")
    with pytest.raises(CommandSyntaxError, match=r"DOC\.md:2: cannot parse"):
        list(kubectl_commands(path))


# --- placeholders ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "marked"),
    [
        ("kubectl get jobflow <name>", f"kubectl get jobflow {PLACEHOLDER}name"),
        ("kubectl get <flow name>", f"kubectl get {PLACEHOLDER}flow_name"),
        ("kubectl -n $NS get x", f"kubectl -n {PLACEHOLDER}NS get x"),
        ("kubectl -n ${NS} get x", f"kubectl -n {PLACEHOLDER}NS get x"),
        ("kubectl get x 2>&1", "kubectl get x "),
        ("kubectl get x 2> errors.txt", "kubectl get x "),
    ],
)
def test_placeholders_are_marked_and_descriptor_redirections_dropped(
    line: str, marked: str
) -> None:
    assert mark_placeholders(line) == marked


def test_is_placeholder() -> None:
    assert is_placeholder(f"{PLACEHOLDER}name-0")
    assert not is_placeholder("linear-flow")


# --- parsing a command -----------------------------------------------------------------------


def test_flags_with_values_in_every_spelling() -> None:
    words = ["get", "pods", "-n", "a", "--namespace=b", "-nc", "-l=x=y", "--selector", "k"]
    command = parse_command("f:1", "", words)
    assert command.args == ["get", "pods"]
    assert command.values("-n", "--namespace") == ["a", "c", "b"]
    assert command.values("-l", "--selector") == ["x=y", "k"]


def test_bare_flags_are_booleans_and_a_dash_is_an_argument() -> None:
    command = parse_command("f:1", "", ["apply", "-f", "-", "--previous", "-A", "--wait"])
    assert command.bool_flags == {"--previous", "-A", "--wait"}
    assert command.values("-f") == ["-"]


def test_words_after_a_double_dash_are_the_containers_command() -> None:
    command = parse_command("f:1", "", ["exec", "pod", "--", "ls", "-n", "x"])
    assert command.args == ["exec", "pod"]
    assert command.flags == {}


def test_a_value_flag_at_the_end_is_a_boolean() -> None:
    command = parse_command("f:1", "", ["logs", "pod", "--since"])
    assert command.bool_flags == {"--since"}
    assert command.values("--since") == []
