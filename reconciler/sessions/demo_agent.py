"""A small interactive stand-in for an AI agent, so examples and tests run real processes.

It prints its AO_* environment and its initial prompt, then reads messages: each submitted
message is echoed with a timestamp. Bracketed paste is honoured the way real agents do it, so
a multi-line paste is one message that is submitted by a single Enter. `/exit N` exits with
code N; `/exit` exits 0. Two commands show the states ao must recognise: `/work N` keeps the
agent busy for N seconds ("demo agent working"), and `/ask QUESTION` puts a y/n question on
screen that only a person should answer (Enter answers with the default, yes, as real agents'
permission prompts do).

    python -m reconciler.sessions.demo_agent --prompt-file PROMPT.md
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time

PASTE_START = "\x1b[200~"
PASTE_END = "\x1b[201~"
INPUT_PROMPT = "> "
CSI = re.compile(r"\x1b\[[0-9;?]*[@-~]")


def banner(prompt_file: str | None) -> None:
    print("ao demo agent (pid %d)" % os.getpid())
    for key in sorted(k for k in os.environ if k.startswith("AO_")):
        print(f"  {key}={os.environ[key]}")
    print(f"  cwd={os.getcwd()}")
    if prompt_file:
        print(f"--- initial prompt ({prompt_file}) ---")
        try:
            with open(prompt_file, encoding="utf-8") as handle:
                print(handle.read().rstrip())
        except OSError as exc:
            print(f"(cannot read prompt: {exc})")
        print("--- end of prompt ---")
    sys.stdout.flush()


ASK = "/ask"


def work(seconds: str, fd: int | None, typed_ahead: list[str]) -> None:
    """A stand-in for a turn: busy for `seconds`. On a terminal a lone Esc ends it early; other
    input typed meanwhile is kept and read after the turn, as a real agent would."""
    import select

    try:
        duration = max(0.0, min(float(seconds or "1"), 3600.0))
    except ValueError:
        duration = 1.0
    print(f"demo agent working ({duration:g}s)… esc to interrupt", flush=True)
    deadline = time.monotonic() + duration
    outcome = "work done"
    while (left := deadline - time.monotonic()) > 0:
        if fd is None:
            time.sleep(left)
            break
        if select.select([fd], [], [], left)[0]:
            chunk = os.read(fd, 4096).decode("utf-8", errors="replace")
            if chunk == "\x1b":
                outcome = "work interrupted"
                break
            typed_ahead.append(chunk)
    print(f"[{time.strftime('%H:%M:%S')}] {outcome}", flush=True)


def handle(message: str, fd: int | None = None, typed_ahead: list[str] | None = None) -> int | None:
    """Echo one submitted message; return an exit code when told to exit."""
    text = message.strip()
    if text == "/exit" or text.startswith("/exit "):
        code = text.removeprefix("/exit").strip()
        return int(code) if code.lstrip("-").isdigit() else 0
    if text == "/work" or text.startswith("/work "):
        work(text.removeprefix("/work").strip(), fd, typed_ahead if typed_ahead is not None else [])
        return None
    stamp = time.strftime("%H:%M:%S")
    lines = message.split("\n")
    print(f"[{stamp}] received ({len(lines)} line{'s' if len(lines) != 1 else ''}):")
    for line in lines:
        print(f"  | {line}")
    sys.stdout.flush()
    return None


def run_terminal() -> int:
    """Read keys in cbreak mode, like a TUI agent: typed text stays on the input line until Enter."""
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)
    out = sys.stdout
    out.write("\x1b[?2004h")  # ask the terminal for bracketed paste
    out.write(INPUT_PROMPT)
    out.flush()
    buffer: list[str] = []
    pending = ""
    pasting = False
    asking = False  # a y/n question is on screen: the next y, n or Enter answers it
    try:
        while True:
            chunk = os.read(fd, 4096)
            if not chunk:
                return 0
            pending += chunk.decode("utf-8", errors="replace")
            while pending:
                if pending.startswith(PASTE_START):
                    pasting, pending = True, pending[len(PASTE_START):]
                    continue
                if pending.startswith(PASTE_END):
                    pasting, pending = False, pending[len(PASTE_END):]
                    continue
                if any(marker.startswith(pending) for marker in (PASTE_START, PASTE_END)):
                    break  # an incomplete paste marker: wait for the rest
                escape = CSI.match(pending)
                if escape:  # arrow keys and other terminal sequences are not text
                    pending = pending[escape.end():]
                    continue
                char, pending = pending[0], pending[1:]
                if asking:
                    if char in "yYnN\r\n":
                        asking = False
                        out.write(f"\n[{time.strftime('%H:%M:%S')}] answered {'no' if char in 'nN' else 'yes'}\n")
                        out.write(INPUT_PROMPT)
                    continue
                if char in "\r\n" and not pasting:
                    out.write("\n")
                    message = "".join(buffer)
                    buffer.clear()
                    if message.strip().startswith(ASK):
                        question = message.strip().removeprefix(ASK).strip() or "Do you want to proceed?"
                        out.write(f"{question} (y/n) ")
                        asking = True
                        continue
                    typed_ahead: list[str] = []
                    code = handle(message, fd, typed_ahead)
                    if code is not None:
                        return code
                    out.write(INPUT_PROMPT)
                    pending += "".join(typed_ahead)
                elif char in "\x7f\b":
                    if buffer:
                        buffer.pop()
                        out.write("\b \b")
                elif char == "\x15":  # Ctrl-U clears the input line
                    out.write("\r\x1b[K" + INPUT_PROMPT)
                    buffer.clear()
                elif char in "\r\n":
                    buffer.append("\n")
                    out.write("\u21b5")  # a pasted newline, shown as ↵ on the input line
                elif char == "\x1b" or (char < " " and char != "\t"):
                    continue
                else:
                    buffer.append(char)
                    out.write(char)
            out.flush()
    finally:
        out.write("\x1b[?2004l")
        out.flush()
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def run_lines() -> int:
    for line in sys.stdin:
        code = handle(line.rstrip("\n"))
        if code is not None:
            return code
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ao-demo-agent", description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompt-file", help="file holding the initial prompt")
    parser.add_argument("--exit-after", type=float, help="exit by itself after this many seconds")
    parser.add_argument("--exit-code", type=int, default=0, help="code used with --exit-after")
    args = parser.parse_args(argv)
    banner(args.prompt_file)
    if args.exit_after is not None:
        time.sleep(args.exit_after)
        return args.exit_code
    try:
        return run_terminal() if sys.stdin.isatty() else run_lines()
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
