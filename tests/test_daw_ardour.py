"""The shipped Ardour script, run in a real Ardour (7.3 from Debian here; ``.ci/run`` installs it).

A session is made headless; in the real GUI (under Xvfb) a 44.1 kHz stereo mixture is imported as
a track, its region is given a source offset and moved to a non-zero position, selected, and the
script installed by ``plugin-host daw install ardour --dir D`` runs on it; the session is saved,
Ardour quits, and the headless session tool reopens the session to list every region. The test
then reads the regions' audio from their source files.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import ardour_support as ardour
import numpy as np
import pytest
import soundfile as sf
from conftest import missing

ROOT = Path(__file__).resolve().parents[1]
RATE = 44100
OFFSET = 30_000  # samples into the source file where the region starts
POSITION = 100_000  # samples: where the region lies on the timeline
LENGTH = 4 * RATE  # samples: the region's length


@pytest.fixture(scope="module")
def tools() -> tuple[str, str, int]:
    found = ardour.find()
    if found is None:
        missing("Ardour is not installed: apt-get install --no-install-recommends ardour")
    for tool in ("xvfb-run",):
        if not __import__("shutil").which(tool):
            missing(f"{tool} is not installed: apt-get install --no-install-recommends xvfb xauth")
    assert found is not None
    return found


def _mixture(path: Path) -> np.ndarray:
    audio, rate = sf.read(ROOT / "examples" / "mixture.flac", dtype="float32", always_2d=True)
    assert rate == RATE and audio.shape[1] == 2
    sf.write(path, audio, RATE, subtype="FLOAT")
    return audio.T


_LIST_REGIONS = """
assert (load_session ({dir}, {name}), "cannot load the session")
for r in Session:get_tracks ():iter () do
  local t = r:to_track ()
  for reg in t:playlist ():region_list ():iter () do
    local ar = reg:to_audioregion ()
    local files = {{}}
    for c = 0, ar:n_channels () - 1 do files[#files + 1] = ar:source (c):to_filesource ():path () end
    print (string.format ("REGION\\t%s\\t%s\\t%d\\t%d\\t%d\\t%s\\t%s", r:name (), reg:name (), reg:position ():samples (),
      reg:start ():samples (), reg:length ():samples (), tostring (reg:muted ()), table.concat (files, "|")))
  end
end
close_session ()
print ("LUA-OK")
"""


def _regions(lua_tool: str, session_dir: Path, name: str, workdir: Path) -> list[dict]:
    script = _LIST_REGIONS.format(dir=ardour.lua_string(str(session_dir)), name=ardour.lua_string(name))
    out = ardour.run_headless(lua_tool, script, workdir)
    regions = []
    for line in out.splitlines():
        if line.startswith("REGION\t"):
            _, track, region, pos, start, length, muted, files = line.split("\t")
            regions.append(
                {
                    "track": track,
                    "region": region,
                    "position": int(pos),
                    "start": int(start),
                    "length": int(length),
                    "muted": muted == "true",
                    "files": files.split("|"),
                }
            )
    return regions


def _audio(region: dict) -> np.ndarray:
    """``(channels, length)`` of a region, read from its source files."""
    channels = []
    for f in region["files"]:
        data, rate = sf.read(f, dtype="float32", start=region["start"], frames=region["length"], always_2d=True)
        assert rate == RATE
        channels.append(data[:, 0])
    return np.stack(channels)


_HOOK = (
    """
-- runs every 0.1 s (see tests/ardour_support.py); a turn of the GUI's main loop between stages
if _busy then return end
_tick = (_tick or 0) + 1
local function report (text)
  local out = io.open ({result}, "w")
  out:write (text)
  out:close ()
end
local function region_of (name)
  local found
  for r in Session:route_by_name (name):to_track ():playlist ():region_list ():iter () do found = r end
  return found
end
if _tick == 1 then
  local files = C.StringVector ()
  files:push_back ({mix})
  local zero = Temporal.timepos_t (0)
  Editor:do_import (files, Editing.ImportDistinctFiles, Editing.ImportAsTrack, ARDOUR.SrcQuality.SrcBest,
    ARDOUR.MidiTrackNameSource.SMFTrackName, ARDOUR.MidiTempoMapDisposition.SMFTempoIgnore,
    zero, ARDOUR.PluginInfo (), ARDOUR.Track (), false)
  local region = region_of ("mixture")
  region:trim_front (Temporal.timepos_t ({offset}))            -- the source offset
  region:set_position (Temporal.timepos_t ({position}))        -- a non-zero position
  region:trim_end (Temporal.timepos_t ({position} + {length})) -- the region's end (exclusive)
elseif _tick == 5 then
  _busy = true
  local ok, err = pcall (function ()
    local sl = ArdourUI.SelectionList ()
    sl:push_back (Editor:regionview_from_region (region_of ("mixture")))
    Editor:set_selection (sl, ArdourUI.SelectionOp.Set)
    -- the installed script, as Ardour's script manager loads it, with preset parameters (no dialog)
    function ardour (t) end
    assert (loadfile ({script})) ()
    factory ({{ stems = {stems}, mute = "yes", server = "none" }}) ()
  end)
  report (ok and "ok" or ("error: " .. tostring (err)))
  _busy = false
elseif _tick == 7 then
"""
    + ardour.SAVE_AND_QUIT
    + "end\n"
)


def _split_in_ardour(tools: tuple[str, str, int], tmp_path: Path, stems: str, robot: str = "") -> tuple[np.ndarray, list[dict]]:
    """Run the installed script on a prepared region in the real GUI; returns the mixture and the saved regions."""
    lua_tool, gui, version = tools
    mix = tmp_path / "mixture.wav"
    audio = _mixture(mix)
    scripts = tmp_path / "scripts"
    subprocess.run(["plugin-host", "daw", "install", "ardour", "--dir", str(scripts)], check=True, capture_output=True)
    script = scripts / "split_into_stems.lua"
    assert script.exists()

    session = tmp_path / "sess"
    create = f'assert (create_session ({ardour.lua_string(str(session))}, "sess", {RATE}))\nclose_session ()\nprint ("LUA-OK")\n'
    ardour.run_headless(lua_tool, create, tmp_path)
    result = tmp_path / "result.txt"
    hook = _HOOK.format(
        mix=ardour.lua_string(str(mix)),
        offset=OFFSET,
        position=POSITION,
        length=LENGTH,
        script=ardour.lua_string(str(script)),
        stems=ardour.lua_string(stems),
        result=ardour.lua_string(str(result)),
    )
    log = ardour.run_gui(gui, version, session / "sess.ardour", hook, tmp_path, robot=robot)
    assert result.exists(), f"the hook did not run:\n{log[-3000:]}"
    assert result.read_text() == "ok", result.read_text()
    return audio, _regions(lua_tool, session, "sess", tmp_path)


def test_split_region_into_stems_in_ardour(tools: tuple[str, str, int], tmp_path: Path) -> None:
    stems = ["drums", "bass", "vocals", "other"]
    audio, regions = _split_in_ardour(tools, tmp_path, ",".join(stems))

    original = [r for r in regions if r["track"] == "mixture"]
    assert len(original) == 1, regions
    orig = original[0]
    assert (orig["position"], orig["start"], orig["length"]) == (POSITION, OFFSET, LENGTH)
    assert orig["muted"], "the original region is muted"
    np.testing.assert_allclose(_audio(orig), audio[:, OFFSET : OFFSET + LENGTH], atol=1e-6)

    new = [r for r in regions if r["track"] != "mixture"]
    assert sorted(r["track"] for r in new) == sorted(f"{s} (mixture)" for s in stems)
    for r in new:
        assert (r["position"], r["length"]) == (POSITION, LENGTH), r
        assert not r["muted"]
        assert len(r["files"]) == 2, "each stem is a stereo region"
    total = sum(_audio(r) for r in new)
    # the stems add back up to the region's audio (32-bit float files, masks that sum to one)
    np.testing.assert_allclose(total, _audio(orig), atol=2e-4)
    # and they are not copies of the mix: each holds a part of it
    for r in new:
        assert np.sqrt(np.mean(_audio(r) ** 2)) < 0.95 * np.sqrt(np.mean(_audio(orig) ** 2)), r["track"]
    # the split's own files were removed once Ardour had imported its copies
    assert not any((tmp_path / "sess" / "stems").rglob("*.wav"))


def test_a_failed_split_shows_a_dialog_and_imports_nothing(tools: tuple[str, str, int], tmp_path: Path) -> None:
    seen = tmp_path / "dialog.txt"
    robot = ardour.press_return_on("Split into stems failed", seen)
    _, regions = _split_in_ardour(tools, tmp_path, "drums,kazoo", robot=robot)
    assert seen.exists() and seen.read_text().strip() == "Split into stems failed", "the error dialog was shown"
    assert [r["track"] for r in regions] == ["mixture"], "no track was added"
    assert not regions[0]["muted"], "the original region plays on"
