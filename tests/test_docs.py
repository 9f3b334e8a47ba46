"""The README and docs/ as a user reads them: the flag tables are the code's,
every command shown parses and builds its settings, the README's Python
runs, links lead somewhere, and no development traces are left."""

import glob
import json
import os
import re
import shlex
import subprocess
import sys

import pytest

from keras_adapters.training.flags import command_configs
from keras_adapters.training.flags import update_flag_tables

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(REPO_ROOT, "README.md")
DOCS = sorted(glob.glob(os.path.join(REPO_ROOT, "docs", "*.md")))
PAGES = [README, *DOCS]
COMMAND_LINE = os.path.join(REPO_ROOT, "docs", "command-line.md")

# How a command can be typed: its installed name, `python -m MODULE`, or
# the top-level script of a checkout.
MODULES = {
    "keras-adapters-classifier": "keras_adapters.run_classifier",
    "keras-adapters-squad": "keras_adapters.run_squad",
    "keras-adapters-export-multitask": "keras_adapters.export_multitask",
}
SCRIPTS = {
    "run_classifier.py": "keras-adapters-classifier",
    "run_squad.py": "keras-adapters-squad",
    "export_multitask.py": "keras-adapters-export-multitask",
}
# Text that marks a shell line as one of the commands.
MENTIONS = re.compile(
    r"keras-adapters-|keras_adapters\.(run_|export_multitask)|"
    r"\b(run_classifier|run_squad|export_multitask)\.py\b"
)
# The placeholders the docs' commands may use, as the test sets them.
PLACEHOLDERS = {
    "MINILM": "/path/to/minilm/model",
    "i": "1",  # The worker index of the TPU-pod loop (docs/backends.md).
}
_VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)\}")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def code_blocks(text, languages):
    """`(language, code)` of each fenced block in one of `languages`."""
    return [
        (match.group(1), match.group(2))
        for match in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.M | re.S)
        if match.group(1) in languages
    ]


def shell_lines(text):
    """Each logical line of the ```bash / ```shell blocks, continuations
    joined."""
    lines = []
    for _, code in code_blocks(text, ("bash", "shell", "sh")):
        lines += [
            line.strip() for line in code.replace("\\\n", " ").splitlines()
        ]
    return [line for line in lines if line]


def expand(token, where):
    """`token` with the docs' placeholders filled in; any other variable is
    an error (a command a user copies must say what to put there)."""

    def value(match):
        name = match.group(1) or match.group(2)
        assert name in PLACEHOLDERS, f"{where}: unknown variable ${name}"
        return PLACEHOLDERS[name]

    return _VARIABLE.sub(value, token)


def parse_command(line, where):
    """`(command, env, argv)` of a shell line that runs one of the
    commands (itself, or inside `--command="..."` of a remote shell), or
    None."""
    tokens = shlex.split(line, comments=True)
    env = {}
    while tokens and _ASSIGNMENT.match(tokens[0]):
        name, _, value = tokens.pop(0).partition("=")
        env[name] = expand(value, where)
    while tokens and tokens[-1] in ("&", ";", "&&"):
        tokens.pop()
    if not tokens:
        return None
    command = None
    if tokens[0] in MODULES:
        command, args = tokens[0], tokens[1:]
    elif tokens[0] == "python" and len(tokens) > 2 and tokens[1] == "-m":
        for name, module in MODULES.items():
            if tokens[2] == module:
                command, args = name, tokens[3:]
    elif tokens[0] == "python" and len(tokens) > 1:
        command = SCRIPTS.get(tokens[1])
        args = tokens[2:]
    if command is None:
        # `gcloud compute tpus tpu-vm ssh ... --command="..."`.
        for token in tokens:
            if token.startswith("--command="):
                return parse_command(token[len("--command=") :], where)
        return None
    argv = [command] + [expand(arg, where) for arg in args]
    return command, env, argv


def documented_commands():
    """`[(where, command, env, argv)]` of every command in a shell block of
    the README and docs/."""
    found = []
    for path in PAGES:
        where = os.path.relpath(path, REPO_ROOT)
        for line in shell_lines(read(path)):
            parsed = parse_command(line, where)
            if parsed is None:
                assert not MENTIONS.search(line), (
                    f"{where}: a command the test cannot read: {line}"
                )
                continue
            found.append((where, *parsed))
    return found


def test_the_flag_tables_are_the_codes():
    text = read(COMMAND_LINE)
    for command in command_configs():
        marker = f"<!-- flags: {command} -->\n"
        assert text.count(marker) == 1, command
        table = text.split(marker)[1].split("<!-- end of flags -->")[0]
        assert "| flag | default | meaning |" in table, command
    assert update_flag_tables(text) == text, (
        "docs/command-line.md's flag tables differ from the code: run "
        "python -m keras_adapters.training.flags docs/command-line.md"
    )


# Runs in a fresh process per command (the commands' absl flags clash in
# one): each command line's flags must parse and its settings build.
CHECK_COMMANDS = r"""
import importlib, json, os, sys
from absl import flags
from keras_adapters.training.flags import command_configs, config_from_flags

command = sys.argv[1]
importlib.import_module(sys.argv[2])
config_cls = command_configs()[command]
if "version" not in flags.FLAGS:  # As the commands define it.
    flags.DEFINE_bool("version", False, "Print the version and exit.")
failures = []
for env, argv in json.loads(sys.stdin.read()):
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        flags.FLAGS.unparse_flags()
        flags.FLAGS([a for a in argv if a not in ("--help", "--helpfull")])
        if not (flags.FLAGS.version or "--help" in argv):
            config_from_flags(config_cls)
    except Exception as error:
        failures.append(f"{' '.join(argv)}: {type(error).__name__}: {error}")
    finally:
        os.environ.clear()
        os.environ.update(saved)
print(json.dumps(failures))
"""

# Variables that would change how a command's settings build.
_RUN_ENVIRONMENT = (
    "GLUE_DIR",
    "TF_CONFIG",
    "KERAS_DISTRIBUTION_JOB_ADDRESSES",
    "KERAS_DISTRIBUTION_NUM_PROCESSES",
    "KERAS_DISTRIBUTION_PROCESS_ID",
    "JAX_COORDINATOR_ADDRESS",
    "JAX_NUM_PROCESSES",
    "JAX_PROCESS_ID",
)


def test_every_documented_command_parses_and_builds_its_settings(tmp_path):
    commands = documented_commands()
    main = ["keras-adapters-classifier", "--task=CoLA", "--adapter_size=64"]
    assert ("README.md", main[0], {}, main) in commands
    env = {k: v for k, v in os.environ.items() if k not in _RUN_ENVIRONMENT}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    runs = {}
    for command, module in MODULES.items():
        cases = [(e, argv) for _, name, e, argv in commands if name == command]
        assert cases, f"no {command} command in the docs"
        process = subprocess.Popen(
            [sys.executable, "-c", CHECK_COMMANDS, command, module],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
            env=env,
        )
        runs[command] = (process, json.dumps(cases))
    failures = []
    for command, (process, cases) in runs.items():
        out, err = process.communicate(cases, timeout=300)
        assert process.returncode == 0, err[-3000:]
        failures += json.loads(out.strip().splitlines()[-1])
    assert failures == []


# Between the README's two Python blocks, the test stands in for the CoLA
# run the multi-task example combines with the sentiment task.
COLA_ARTIFACT = """
import shutil
shutil.copytree("sentiment_adapters", "output/CoLA/adapters")
"""


def readme_python(heading):
    """The Python block of the README section under `heading`."""
    section = read(README).split(f"\n## {heading}\n")[1].split("\n## ")[0]
    [(_, code)] = code_blocks(section, ("python",))
    return code


@pytest.mark.integration
def test_the_readme_quick_start_runs(tmp_path, minilm_path):
    quick_start = readme_python("Library quick start")
    preset_line = re.compile(r'^preset = "[^"]*"$', re.M)
    assert len(preset_line.findall(quick_start)) == 1
    script = (
        preset_line.sub(f"preset = {minilm_path!r}", quick_start)
        + COLA_ARTIFACT
        + readme_python("One BERT, many tasks")
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "605,954    23,309,186" in done.stdout
    label = r"b'(neg|pos)'"
    printed = done.stdout.strip().splitlines()
    assert re.fullmatch(rf"tf\.Tensor\(\[{label}\].*", printed[-2])
    assert re.fullmatch(rf"tf\.Tensor\(\[{label} {label}\].*", printed[-1])
    for folder in ("sentiment_adapters", "sentiment_model", "one_bert"):
        assert os.path.exists(tmp_path / folder / ".keras_adapters.json")


def heading_anchors(text):
    """GitHub's anchors of the Markdown headings of `text`."""
    anchors = set()
    for heading in re.findall(r"^#+ (.+)$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower())
        anchors.add(slug.replace(" ", "-"))
    return anchors


def test_links_between_the_pages_lead_somewhere():
    for path in PAGES:
        text = read(path)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"https?://", target):
                continue
            file, _, anchor = target.partition("#")
            linked = os.path.normpath(
                os.path.join(os.path.dirname(path), file) if file else path
            )
            assert os.path.exists(linked), f"{path}: {target}"
            if anchor:
                assert anchor in heading_anchors(read(linked)), (
                    f"{path}: {target}"
                )


# What a user does not need: development paths, issue numbers, CI timings.
FORBIDDEN = [
    (re.compile(r"\.\./shared"), "a development path"),
    (re.compile(r"(?<![\w/&])#\d{1,2}\b"), "an issue number"),
    (re.compile(r"\bissues? #?\d{1,2}\b", re.I), "an issue number"),
    (re.compile(r"\b\d+ (passed|skipped|failed)\b"), "a test-run count"),
    (re.compile(r"fresh clone", re.I), "a CI run"),
]
_CI = re.compile(r"\bCI\b|\.ci/run")
_DURATION = re.compile(r"\b\d+(\.\d+)? ?(s|sec|seconds?|min|minutes?|h)\b")


def test_no_development_traces():
    for path in PAGES:
        for number, line in enumerate(read(path).splitlines(), 1):
            where = f"{os.path.relpath(path, REPO_ROOT)}:{number}"
            for pattern, what in FORBIDDEN:
                assert not pattern.search(line), f"{where}: {what}: {line}"
            if _CI.search(line):
                assert not _DURATION.search(line), f"{where}: a CI timing"


def test_the_readme_is_short():
    assert len(read(README).splitlines()) <= 250
