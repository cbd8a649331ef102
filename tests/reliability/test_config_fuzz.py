"""Bad config, generated: wrong types, unknown keys, dependency cycles, bad durations, bad
interpolation, invalid TOML, random bytes, a 10 MB file. ``devstack check`` (in-process, through
``devstack.cli.main``) always exits 2 with a clear message naming every problem, never a traceback.

Default: 50 generated configs per strategy; soak (DEVSTACK_SOAK=1): 500."""

from __future__ import annotations

import keyword
import string
import tempfile
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devstack.cli import main

from .kit import reps

SETTINGS = settings(max_examples=reps(50, 500), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

KNOWN = {"cmd", "cwd", "env", "env_file", "stop_signal", "stop_timeout", "port", "ports", "scheme", "health",
         "depends_on", "restart", "max_restarts", "watch", "ignore", "restart_dependents", "socket"}

# (key, a value of the wrong type or out of range); the key is what the message must name
WRONG: list[tuple[str, Any]] = [
    ("cmd", 3), ("cmd", []), ("cmd", {"a": 1}), ("cwd", 5), ("cwd", "no/such/dir"), ("env", "x"),
    ("env", [1]), ("env_file", 3), ("env_file", "missing.env"), ("stop_signal", "SIGFOO"),
    ("stop_signal", 9.5), ("stop_timeout", "soon"), ("stop_timeout", -1), ("stop_timeout", [1]),
    ("port", "eighty"), ("port", 70000), ("port", -3), ("ports", 5), ("ports", {"admin": "x"}),
    ("scheme", 1), ("health", 3), ("health", {"http": 5}), ("health", {"tcp": True, "http": "/"}),
    ("health", {"tcp": True, "interval": "fast"}), ("health", {"tcp": True, "retries": "many"}),
    ("depends_on", 5), ("depends_on", {"zz": "eventually"}), ("restart", "sometimes"),
    ("max_restarts", "x"), ("max_restarts", -2), ("watch", 3), ("watch", "no/such/path"), ("ignore", 3),
    ("restart_dependents", "yes"),
]
BAD_DURATIONS = st.one_of(
    st.text(alphabet=string.ascii_letters + " -", min_size=1, max_size=8),
    st.sampled_from(["1x", "ms", "5 minutes", "-2s", "1.2.3s", "2s3", "inf", "nan", "1e400", ""]),
)
identifiers = st.text(alphabet=string.ascii_lowercase + "_", min_size=3, max_size=12).filter(
    lambda k: k not in KNOWN and not keyword.iskeyword(k))


@st.composite
def broken_configs(draw: st.DrawFn) -> tuple[dict[str, Any], list[str]]:
    """A config with one or more problems, and for each a word its message must contain."""
    names = draw(st.lists(st.from_regex(r"[a-z][a-z0-9]{0,7}", fullmatch=True), min_size=2, max_size=5,
                          unique=True))
    services: dict[str, dict[str, Any]] = {n: {"cmd": "sleep 1"} for n in names}
    expected: list[str] = []
    kinds = draw(st.lists(st.sampled_from(["wrong", "unknown", "cycle", "duration", "interpolation",
                                           "missing_dep", "no_cmd"]), min_size=1, max_size=4, unique=True))
    kinds.sort(key=lambda k: k not in ("cycle", "missing_dep"))  # those set depends_on: first
    victims = iter(draw(st.permutations(names)) * 2)
    for kind in kinds:
        name = next(victims)
        svc = services[name]
        if kind == "wrong":
            key, value = draw(st.sampled_from(WRONG))
            if key in svc and key != "cmd":
                continue
            svc[key] = value
            expected.append(key)
        elif kind == "unknown":
            key = draw(identifiers)
            svc[key] = draw(st.one_of(st.integers(), st.text(max_size=5), st.booleans()))
            expected.append(key)
        elif kind == "cycle":
            a, b = names[0], names[1]
            if "depends_on" in services[a] or "depends_on" in services[b]:
                continue
            services[a]["depends_on"] = [b]
            services[b]["depends_on"] = [a]
            expected.append("cycle")
        elif kind == "duration":
            svc["stop_timeout"] = draw(BAD_DURATIONS)
            expected.append("stop_timeout")
        elif kind == "interpolation":
            ref, word = draw(st.sampled_from([("${nosuch.port}", "nosuch"), ("${nosuch.url}", "nosuch"),
                                              (f"${{{name}.ports.nope}}", "nope"),
                                              (f"${{{name}.bogus}}", "bogus")]))
            svc["cmd"] = f"echo {ref}"
            expected.append(word)
        elif kind == "missing_dep":
            if "depends_on" in svc:
                continue
            svc["depends_on"] = ["ghost_service"]
            expected.append("ghost_service")
        else:
            del svc["cmd"]
            expected.append("cmd")
    if not expected:
        services[names[0]]["restart"] = "sometimes"
        expected.append("restart")
    return {"services": services}, expected


def check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["-f", str(path), "check"])
    out, err = capsys.readouterr()
    return code, out, err


def assert_clear_error(code: int, out: str, err: str, path: Path) -> None:
    assert code == 2, (code, out, err)
    assert err.strip(), "no message"
    assert "Traceback" not in err and "Traceback" not in out
    assert str(path) in err or path.name in err, err[:500]
    assert len(err) < 50_000, f"a message of {len(err)} characters"


GRAPH = ("cycle", "ghost_service", "nosuch", "nope", "bogus")


@SETTINGS
@given(broken_configs())
def test_generated_config_problems_each_named_exit_2(capsys: pytest.CaptureFixture[str],
                                                     case: tuple[dict[str, Any], list[str]]) -> None:
    data, expected = case
    # problems between services (a cycle, an unknown dependency, a reference) are looked for once every
    # service is valid on its own: they are reported in a second pass
    fields = [w for w in expected if w not in GRAPH]
    expected = fields or expected
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "devstack.toml"
        path.write_text(tomli_w.dumps(data))
        code, out, err = check(path, capsys)
    assert_clear_error(code, out, err, path)
    for word in expected:
        assert word in err, (word, err)


TOML_BREAKERS = st.sampled_from([
    "[services.a\n", "x = \n", "a = 'unterminated\n", "[[services]]\n[services]\n", "a = 1\na = 2\n",
    "services = { a = { cmd = 'x' }\n", "\x00", "a = 1979-05-27T07:32:00+25:00\n", "[a]\n[a]\n",
    "key = \"\\q\"\n", "= 3\n",
])


@SETTINGS
@given(st.text(max_size=200), TOML_BREAKERS, st.text(max_size=200))
def test_invalid_toml_exit_2(capsys: pytest.CaptureFixture[str], before: str, breaker: str,
                             after: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "devstack.toml"
        path.write_text(f"[services.a]\ncmd = 'x'\n{breaker}", encoding="utf-8", errors="surrogatepass")
        # the breaker, wrapped in generated text (which may break the file further, or not at all)
        path.write_bytes((before + "\n").encode("utf-8", "surrogatepass") + path.read_bytes()
                         + (after + "\n").encode("utf-8", "surrogatepass"))
        code, out, err = check(path, capsys)
    assert_clear_error(code, out, err, path)


@SETTINGS
@given(st.binary(max_size=4096))
def test_random_bytes_exit_2(capsys: pytest.CaptureFixture[str], data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "devstack.toml"
        path.write_bytes(data)
        code, out, err = check(path, capsys)
    assert_clear_error(code, out, err, path)


MB10 = 10 * 1024 * 1024


@pytest.mark.parametrize("body", [
    "a = '" + "x" * MB10,  # unterminated: invalid TOML
    "[services.a]\ncmd = '" + "x" * MB10 + "'\nbogus_key = 1\n",  # valid TOML, one unknown key
    "[services.a]\ncmd = 'x'\n" + "# filler\n" * (MB10 // 9) + "restart = 'sometimes'\n",
    # 870,000 unknown keys (87,000 by default: tomllib alone takes seconds per MB of them)
    "[services.a]\ncmd = 'x'\n" + "".join(f"k{i} = {i}\n" for i in range(reps(MB10 // 10, MB10) // 12)),
], ids=["unterminated", "huge-value", "comments", "many-keys"])
def test_a_10_mb_config_is_refused_quickly_and_briefly(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      body: str) -> None:
    path = tmp_path / "devstack.toml"
    path.write_text(body)
    assert path.stat().st_size >= reps(MB10 // 10, MB10)
    code, out, err = check(path, capsys)
    assert_clear_error(code, out, err, path)
