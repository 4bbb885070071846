"""Capture the screen fixtures of tests/fixtures/screens/<preset>/ from the real agent CLIs.

    .venv/bin/python -m tests.agents.capture_screens codex gemini opencode aider

Each CLI (pinned, from the agent cache) runs in a 200x50 pane of a private tmux server against
the local model stand-in; the pane is captured once the screen shows what the fixture is about.
A tool for refreshing fixtures when a pinned version changes, not a test.
"""
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.agents.cli_harness import PINNED
from tests.agents.fake_openai import FakeOpenAI
from tests.agents.install import npm_binary, pip_binary

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "screens"
def _bin(preset):
    registry, package, version, binary = PINNED[preset]
    return str((npm_binary if registry == "npm" else pip_binary)(package, version, binary).parent)
which = sys.argv[1:]
BIN = {p: _bin(p) for p in which}
WORK = Path(tempfile.mkdtemp(prefix="ao-screens-"))
SOCK = str(WORK / "tmux.sock")
fake = FakeOpenAI().start()
def side(r):
    c = r.body.get("generationConfig") or {}
    if c.get("responseSchema") or c.get("responseJsonSchema"):
        return json.dumps({"complexity_reasoning": "simple", "complexity_score": 1})
    return None
fake.responder = side
def tm(*a, check=True):
    return subprocess.run(["tmux", "-S", SOCK, *a], capture_output=True, text=True, check=check)
def cap(s): return tm("capture-pane", "-p", "-t", f"={s}:", check=False).stdout
def wait(s, text, timeout=90):
    end = time.time() + timeout
    while time.time() < end:
        sc = cap(s)
        if (text(sc) if callable(text) else text in sc): return sc
        time.sleep(0.2)
    raise SystemExit(f"{s}: {text!r} not seen:\n{cap(s)}")
def save(preset, name, s, text):
    sc = wait(s, text)
    time.sleep(0.4); sc2 = cap(s)
    if (text(sc2) if callable(text) else text in sc2): sc = sc2
    (OUT / preset).mkdir(parents=True, exist_ok=True)
    (OUT / preset / f"{name}.txt").write_text(sc)
    print("saved", preset, name, flush=True)
def start(name, cwd, env, argv):
    full = {"PATH": f"{env.pop('BIN')}:/usr/local/bin:/usr/bin:/bin", "TERM": "xterm-256color", "LANG": "C.UTF-8", **env}
    tm("new-session", "-d", "-s", name, "-x", "200", "-y", "50", "-c", str(cwd), "env", "-i", *[f"{k}={v}" for k, v in full.items()], *argv)
def type_(s, text):
    tm("send-keys", "-t", f"={s}:", "-l", text); wait(s, text, 20); tm("send-keys", "-t", f"={s}:", "Enter")
def repo(p):
    if p.exists(): shutil.rmtree(p)
    p.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=p, check=True)
    subprocess.run(["git", "-c", "user.email=a@b", "-c", "user.name=n", "commit", "-q", "--allow-empty", "-m", "init"], cwd=p, check=True)
    return p
def kill(s): tm("kill-session", "-t", f"={s}", check=False)
ROOT = WORK / "w"; ROOT.mkdir(parents=True)

if "codex" in which:
    r = repo(ROOT / "cx"); h = ROOT / "cxh"; h.mkdir()
    start("c1", r, {"BIN": BIN["codex"], "CODEX_HOME": str(h), "HOME": str(ROOT)}, ["codex", "--no-daemon"])
    save("codex", "waiting-sign-in", "c1", lambda s: "Sign in" in s or "API key" in s); kill("c1")
    (h / "config.toml").write_text(f'model = "fake-model"\nmodel_provider = "fake"\napproval_policy = "never"\nsandbox_mode = "danger-full-access"\n[model_providers.fake]\nname = "Fake"\nbase_url = "{fake.base_url}"\nenv_key = "FAKE_KEY"\nwire_api = "responses"\n')
    start("c2", r, {"BIN": BIN["codex"], "CODEX_HOME": str(h), "HOME": str(ROOT), "FAKE_KEY": "x"}, ["codex", "--no-daemon"])
    save("codex", "waiting-trust", "c2", lambda s: "trust" in s.lower()); kill("c2")
    with (h / "config.toml").open("a") as f: f.write(f'[projects."{r}"]\ntrust_level = "trusted"\n')
    start("c3", r, {"BIN": BIN["codex"], "CODEX_HOME": str(h), "HOME": str(ROOT), "FAKE_KEY": "x"}, ["codex", "--no-daemon", "say hi"])
    save("codex", "idle-after-reply", "c3", lambda s: "ok:" in s and "Worked for" in s)
    fake.delay = 25
    type_("c3", "second message")
    save("codex", "working-turn", "c3", "esc to interrupt")
    type_("c3", "typed while working")
    time.sleep(1.5); save("codex", "working-queued-input", "c3", "esc to interrupt")
    fake.delay = 0; kill("c3")

if "gemini" in which:
    r = repo(ROOT / "gm"); home = ROOT / "gh"; (home / ".gemini").mkdir(parents=True)
    env = {"BIN": BIN["gemini"], "HOME": str(home), "GEMINI_API_KEY": "k", "GEMINI_MODEL": "gemini-2.5-flash", "GOOGLE_GEMINI_BASE_URL": fake.base_url[:-3]}
    start("g1", r, dict(env), ["gemini"])
    save("gemini", "waiting-trust", "g1", lambda s: "trust" in s.lower()); kill("g1")
    (home / ".gemini" / "trustedFolders.json").write_text(json.dumps({str(ROOT): "TRUST_FOLDER"}))
    start("g2", r, dict(env), ["gemini"])
    save("gemini", "waiting-auth", "g2", lambda s: "auth" in s.lower() and "Gemini API Key" in s or "Login with Google" in s); kill("g2")
    (home / ".gemini" / "settings.json").write_text(json.dumps({"security": {"auth": {"selectedType": "gemini-api-key"}}}))
    start("g3", r, dict(env), ["gemini", "--prompt-interactive", "say hi"])
    save("gemini", "idle-after-reply", "g3", lambda s: "ok: say hi" in s and "Type your message" in s)
    fake.delay = 25
    type_("g3", "second message")
    save("gemini", "working-turn", "g3", "esc to cancel")
    type_("g3", "typed while working")
    time.sleep(1.5); save("gemini", "working-queued-input", "g3", "esc to cancel")
    fake.delay = 0; kill("g3")

if "opencode" in which:
    r = repo(ROOT / "oc"); home = ROOT / "oh"; home.mkdir()
    cfg = ROOT / "opencode.json"
    cfg.write_text(json.dumps({"autoupdate": False, "share": "disabled", "provider": {"fake": {"npm": "@ai-sdk/openai-compatible", "name": "Fake", "options": {"baseURL": fake.base_url, "apiKey": "x"}, "models": {"fake-model": {"name": "Fake model"}}}}, "model": "fake/fake-model"}))
    env = {"BIN": BIN["opencode"], "HOME": str(home), "OPENCODE_CONFIG": str(cfg), "OPENCODE_DISABLE_AUTOUPDATE": "1", "OPENCODE_DISABLE_MODELS_FETCH": "1"}
    t0 = time.time()
    start("o1", r, dict(env), ["opencode", "--prompt", "say hi"])
    save("opencode", "idle-after-reply", "o1", lambda s: "ok: say hi" in s and "esc interrupt" not in s)
    print("opencode start to reply", time.time() - t0)
    fake.delay = 25
    type_("o1", "second message")
    save("opencode", "working-turn", "o1", "esc interrupt")
    type_("o1", "typed while working")
    time.sleep(1.5); save("opencode", "working-queued-input", "o1", "esc interrupt")
    fake.delay = 0; kill("o1")
    start("o2", r, dict(env), ["opencode"])
    save("opencode", "idle-fresh", "o2", lambda s: "tab agents" in s or "ctrl+p" in s); kill("o2")

if "aider" in which:
    r = repo(ROOT / "ai"); home = ROOT / "ah"; home.mkdir()
    env = {"BIN": BIN["aider"], "HOME": str(home), "OPENAI_API_BASE": fake.base_url, "OPENAI_API_KEY": "x", "AIDER_MODEL": "openai/fake-model", "AIDER_SHOW_MODEL_WARNINGS": "false"}
    start("a1", r, dict(env), ["aider", "--no-check-update", "--no-show-release-notes", "--no-analytics"])
    save("aider", "waiting-gitignore", "a1", ".gitignore"); kill("a1")
    fake.responder = lambda q: "Noted." if not side(q) else side(q)
    start("a2", r, dict(env), ["aider", "--no-gitignore", "--no-check-update", "--no-show-release-notes", "--no-analytics"])
    save("aider", "idle-prompt", "a2", lambda s: s.rstrip().endswith(">"))
    fake.delay = 25
    type_("a2", "second message")
    save("aider", "working-turn", "a2", lambda s: "Waiting for" in s or "█" in s or "░" in s)
    type_("a2", "typed while working")
    time.sleep(1.5); save("aider", "working-typed-ahead", "a2", "typed while working")
    fake.delay = 0; kill("a2")
fake.stop()
tm("kill-server", check=False)
shutil.rmtree(WORK, ignore_errors=True)
