-- @description Split selected items into stems (stemsplit)
-- @author stemsplit (plugin_host)
-- @about
--   For each selected audio item, splits the item's range of its source file into stems
--   (drums, bass, guitar, vocals, other, or K blind sources) with `plugin-host daw split`
--   (through a running `plugin-host serve` when one answers, else on this machine), then adds one
--   new track per stem, named after the stem and the item, each holding one item at the original
--   item's position and length, and mutes the original item (an option). One undo step.
--
--   NOT RUN IN A REAL REAPER: REAPER is not packaged for Debian, so this script has only been
--   checked for syntax (`luac -p`, tests/test_daw_install.py). The Ardour script doing the same is
--   tested in a real Ardour. REAPER's Lua has no sockets and no progress dialog, so the split runs
--   as a background process writing its progress lines to a file that a deferred loop polls,
--   drawing a progress bar in a small window. Installed by `plugin-host daw install reaper`;
--   see docs/daw.md.

local COMMAND = "@PLUGIN_HOST@"
if COMMAND:find("@PLUGIN_HOST", 1, true) then COMMAND = "plugin-host" end
local SERVER = "127.0.0.1:9000" -- "none": always split on this machine
local TITLE = "Split into stems"
local WINDOWS = package.config:sub(1, 1) == "\\"

local function quote(s)
  if WINDOWS then return '"' .. tostring(s):gsub('"', '\\"') .. '"' end
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function fail(text)
  reaper.ShowMessageBox(text, TITLE, 0)
end

-- The jobs: one per selected item with an audio file source.
local function selected_jobs()
  local jobs = {}
  for i = 0, reaper.CountSelectedMediaItems(0) - 1 do
    local item = reaper.GetSelectedMediaItem(0, i)
    local take = reaper.GetActiveTake(item)
    if take and not reaper.TakeIsMIDI(take) then
      local source = reaper.GetMediaItemTake_Source(take)
      local file = reaper.GetMediaSourceFileName(source, "")
      local rate = reaper.GetMediaItemTakeInfo_Value(take, "D_PLAYRATE")
      local length = reaper.GetMediaItemInfo_Value(item, "D_LENGTH")
      local _, name = reaper.GetSetMediaItemTakeInfo_String(take, "P_NAME", "", false)
      jobs[#jobs + 1] = {
        item = item,
        file = file,
        name = name ~= "" and name or file:match("([^/\\]+)$"),
        position = reaper.GetMediaItemInfo_Value(item, "D_POSITION"),
        length = length,
        start = reaper.GetMediaItemTakeInfo_Value(take, "D_STARTOFFS"),
        source_length = length * rate,
        track = reaper.GetMediaItem_Track(item),
      }
    end
  end
  return jobs
end

local function ask()
  local ok, answer = reaper.GetUserInputs(TITLE, 2,
    "Stems (names, or clusters:K),Mute original (y/n),extrawidth=120", "drums,bass,vocals,other,y")
  if not ok then return nil end
  local stems, mute = answer:match("^(.*),([^,]*)$")
  return { stems = stems, mute = mute:lower():sub(1, 1) ~= "n" }
end

local function start_split(job, choice, out_dir)
  local args = { quote(COMMAND), "daw", "split", quote(job.file), quote(out_dir) }
  local k = choice.stems:match("^clusters:(%d+)$")
  args[#args + 1] = k and ("--clusters " .. k) or ("--stems " .. quote(choice.stems))
  args[#args + 1] = string.format("--start %.17g --length %.17g", job.start, job.source_length)
  args[#args + 1] = SERVER == "none" and "--no-server" or ("--server " .. quote(SERVER))
  job.log = out_dir .. ".log"
  local cmd = table.concat(args, " ") .. " > " .. quote(job.log) .. " 2>&1"
  reaper.RecursiveCreateDirectory(out_dir, 0)
  if WINDOWS then
    reaper.ExecProcess('cmd.exe /C "' .. cmd .. '"', -1) -- -1: do not wait
  else
    os.execute(cmd .. " &")
  end
end

-- Read a job's log: progress (0..1), the stem files when done, or an error.
local function poll(job)
  local f = io.open(job.log, "r")
  if not f then return 0 end
  local progress, done, ok, err = 0, {}, false, nil
  for line in f:lines() do
    local p = line:match("^progress ([%d.eE+-]+)$")
    if p then progress = tonumber(p)
    elseif line:match("^done ") then done[#done + 1] = line:sub(6)
    elseif line == "ok" then ok = true
    elseif line:match("^error ") then err = line:sub(7)
    elseif line ~= "" then err = err or line end
  end
  f:close()
  return progress, ok and done or nil, err
end

local function add_stem_tracks(job, stems, mute)
  reaper.Undo_BeginBlock()
  local index = reaper.GetMediaTrackInfo_Value(job.track, "IP_TRACKNUMBER") -- 1-based: insert below
  for i, path in ipairs(stems) do
    reaper.InsertTrackAtIndex(index + i - 1, true)
    local track = reaper.GetTrack(0, index + i - 1)
    local stem = path:match("([^/\\]+)%.%w+$") or path
    reaper.GetSetMediaTrackInfo_String(track, "P_NAME", stem .. " (" .. job.name .. ")", true)
    reaper.SetOnlyTrackSelected(track)
    reaper.SetEditCurPos(job.position, false, false)
    reaper.InsertMedia(path, 0) -- 0: onto the selected track at the edit cursor
  end
  if mute then reaper.SetMediaItemInfo_Value(job.item, "B_MUTE", 1) end
  reaper.Undo_EndBlock(TITLE .. ": " .. job.name, -1)
  reaper.UpdateArrange()
end

local function main()
  local jobs = selected_jobs()
  if #jobs == 0 then return fail("Select one or more audio items first.") end
  local choice = ask()
  if not choice then return end
  local project_dir = reaper.GetProjectPath("")
  local stamp = os.date("%Y%m%d-%H%M%S")
  local current = 1
  local failures = {}
  gfx.init(TITLE, 420, 60)

  local function next_job()
    local job = jobs[current]
    job.out = project_dir .. "/stems/" .. job.name:gsub("[^%w%-_. ]", "_") .. "-" .. stamp .. "-" .. current
    start_split(job, choice, job.out)
  end

  local function step()
    local job = jobs[current]
    local progress, stems, err = poll(job)
    gfx.set(0.2, 0.2, 0.2, 1); gfx.rect(0, 0, gfx.w, gfx.h, 1)
    gfx.set(0.3, 0.7, 0.9, 1); gfx.rect(10, 30, (gfx.w - 20) * progress, 20, 1)
    gfx.set(1, 1, 1, 1); gfx.x, gfx.y = 10, 8
    gfx.drawstr(string.format("Splitting '%s' (%d of %d)", job.name, current, #jobs))
    gfx.update()
    if stems or err then
      if stems then add_stem_tracks(job, stems, choice.mute) else failures[#failures + 1] = job.name .. ": " .. err end
      current = current + 1
      if current > #jobs then
        gfx.quit()
        if #failures > 0 then fail(table.concat(failures, "\n")) end
        return
      end
      next_job()
    end
    if gfx.getchar() < 0 then return end -- window closed: stop watching
    reaper.defer(step)
  end

  next_job()
  step()
end

main()
