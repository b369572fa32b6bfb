"""Drive a real Ardour 7/8 from tests: its headless Lua session tool and its GUI under Xvfb.

- ``ardour7-lua`` (``luasession``) runs Ardour's session engine without a GUI: it creates,
  reopens and inspects sessions, but cannot import audio files (no source factory in Lua).
- The GUI imports (``Editor:do_import``) and runs EditorAction scripts. It starts under
  ``xvfb-run`` with an isolated configuration folder (``XDG_CONFIG_HOME``) holding: the "been
  here before" marker (no welcome wizard), the dummy audio engine chosen and auto-started (no
  Audio/MIDI set-up dialog), and a ``SetSession`` hook — a Lua callback Ardour restores from its
  ``ui_scripts`` file — that runs a test's Lua file every 0.1 s once the session is loaded (the
  GUI needs a turn of its main loop between importing a region and selecting its view). The
  file counts its calls in the global ``_tick`` and ends by saving the session and quitting.
"""

from __future__ import annotations

import base64
import os
import shlex
import shutil
import subprocess
from pathlib import Path

VERSIONS = (8, 7)


def find() -> tuple[str, str, int] | None:
    """``(lua_tool, gui, major_version)`` of an installed Ardour, or None."""
    for v in VERSIONS:
        lua = shutil.which(f"ardour{v}-lua")
        gui = shutil.which(f"ardour{v}") or (shutil.which("ardour") if lua else None)
        if lua and gui:
            return lua, gui, v
    return None


def lua_string(text: str) -> str:
    """A Lua long-bracket string literal holding ``text`` exactly."""
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    eq = "=" * level
    return f"[{eq}[{text}]{eq}]"


def run_headless(lua_tool: str, script: str, workdir: Path, timeout: float = 60, env: dict[str, str] | None = None) -> str:
    """Run a Lua script with Ardour's headless session tool (``env``: extra environment, e.g. a JACK server's
    name); returns its stdout (raises on failure)."""
    path = workdir / "headless.lua"
    path.write_text(script, encoding="utf-8")
    environ = {**os.environ, **(env or {})}
    try:
        done = subprocess.run([lua_tool, str(path)], check=False, capture_output=True, text=True, timeout=timeout, cwd=workdir, env=environ)
    except subprocess.TimeoutExpired as exc:  # a hung session engine: said like any other failure, with its output
        out, err = (_text(part)[-3000:] for part in (exc.stdout, exc.stderr))
        raise AssertionError(f"{lua_tool} did not finish in {timeout:g} s:\n{out}\n{err}") from exc
    if done.returncode != 0 or "LUA-OK" not in done.stdout:
        raise AssertionError(f"{lua_tool} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def _text(output: str | bytes | None) -> str:
    """A subprocess's captured output as text (a timeout may leave it as bytes, or ``None``)."""
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""


_CONFIG = """<?xml version="1.0" encoding="UTF-8"?>
<Ardour>
  <Config>
    <Option name="hide-dummy-backend" value="0"/>
    <Option name="try-autostart-engine" value="1"/>
  </Config>
  <Extra>
    <AudioMIDISetup>
      <EngineStates>
        <State backend="None (Dummy)" driver="Normal Speed" device="Silence" input-device="" output-device=""
          sample-rate="44100" buffer-size="1024" n-periods="0" input-latency="0" output-latency="0"
          lm-input="" lm-output="" active="1" use-buffered-io="0" midi-option="1 in, 1 out, Silence" lru="1">
          <MIDIDevices/>
        </State>
      </EngineStates>
    </AudioMIDISetup>
  </Extra>
</Ardour>
"""

# Ardour 7.3 and 8 have 49 hook signals; LuaTimerDS (every 0.1 s once a session is loaded) is the
# second-to-last, SetSession the last (a bitset, printed high bit first).
_TIMER_DS = "01" + "0" * 47


def _ui_scripts(hook_file: Path) -> str:
    body = f"return function (signal, ...) assert (loadfile ({lua_string(str(hook_file))})) () end"
    state = f's = {{}} s["n"] = "test hook" s["s"] = "" s["f"] = {lua_string(body)} s["a"] = {{}} '
    b64 = base64.b64encode(state.encode()).decode()
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<UIScripts>\n  <ActionHooks>\n'
        f'    <LuaCallback lua="Lua 5.3" id="424242" name="test hook" signals="{_TIMER_DS}">{b64}</LuaCallback>\n'
        "  </ActionHooks>\n</UIScripts>\n"
    )


def run_gui(gui: str, version: int, session_file: Path, hook_lua: str, workdir: Path, timeout: float = 180, robot: str = "") -> str:
    """Open ``session_file`` in Ardour's GUI under Xvfb and run ``hook_lua`` every 0.1 s.

    The hook must end by saving and quitting (see :data:`SAVE_AND_QUIT`). ``robot``: a shell
    snippet run beside Ardour on the same display (``xdotool`` presses buttons of dialogs that
    no Lua can close). Returns Ardour's output.
    """
    config = workdir / "xdg-config"
    folder = config / f"ardour{version}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f".a{version}").touch()
    (folder / "config").write_text(_CONFIG, encoding="utf-8")
    hook_file = workdir / "hook.lua"
    hook_file.write_text(hook_lua, encoding="utf-8")
    (folder / "ui_scripts").write_text(_ui_scripts(hook_file), encoding="utf-8")
    env = dict(os.environ, XDG_CONFIG_HOME=str(config), ARDOUR_TRY_AUTOSTART_ENGINE="1")
    ardour = " ".join(shlex.quote(a) for a in (gui, "--no-splash", "--no-announcements", str(session_file)))
    cmd = ["xvfb-run", "-a", "-s", "-screen 0 1280x800x24", "sh", "-c", f"{ardour} & pid=$!\n{robot}\nwait $pid"]
    try:
        done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout, env=env, cwd=workdir)
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        raise AssertionError(f"Ardour did not quit within {timeout:.0f} s (a dialog waiting?):\n{out[-3000:]}") from exc
    return done.stdout + done.stderr


def press_return_on(title: str, seen: Path, seconds: float = 150) -> str:
    """A robot (for :func:`run_gui`) that waits for a window titled ``title``, writes its title
    into ``seen`` and presses Return in it."""
    t = shlex.quote(f"^{title}$")
    return (
        f"for i in $(seq {int(seconds * 5)}); do w=$(xdotool search --name {t} 2>/dev/null | head -n 1); "
        f'if [ -n "$w" ]; then sleep 0.5; xdotool getwindowname "$w" > {shlex.quote(str(seen))}; '
        'xdotool windowactivate --sync "$w" key Return || xdotool key Return; break; fi; sleep 0.2; done'
    )


#: Lua that ends a GUI hook: save the session, then quit Ardour.
SAVE_AND_QUIT = """
Session:save_state ("", false, false, false, false, false)
Editor:access_action ("Common", "Quit")
"""
