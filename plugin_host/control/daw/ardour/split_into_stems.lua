ardour {
	["type"]    = "EditorAction",
	name        = "Split Region into Stems",
	license     = "MIT",
	author      = "stemsplit (plugin_host)",
	description = [[Split each selected audio region into stems (drums, bass, guitar, vocals, other, or
K blind sources) with the stemsplit separator, and add one new track per stem, named after the stem
and the region, each holding one region at the original region's position and length.
Only the region's range of its source is processed. The original region is muted (an option).

The split runs through a running `plugin-host serve` (OSC on 127.0.0.1:9000) when one answers,
or on this machine through `plugin-host daw split` otherwise. Installed by
`plugin-host daw install ardour`; see docs/daw.md.]]
}

-- Preset values for a key binding or a toolbar button (Edit > Lua Scripts > Script Manager):
-- with "stems" set, the action runs without asking.
function action_params ()
	return {
		["stems"]   = { title = "Stems: names (drums,bass,vocals,other) or clusters:K; empty asks", default = "" },
		["mute"]    = { title = "Mute the original region (yes/no)", default = "yes" },
		["server"]  = { title = "OSC server (host:port; 'none': always split locally)", default = "127.0.0.1:9000" },
		["command"] = { title = "plugin-host command", default = "@PLUGIN_HOST@" },
	}
end

function factory (params) return function ()
	local p = params or {}
	local command = p["command"] or "@PLUGIN_HOST@"
	if command == "" or command:find ("@PLUGIN_HOST", 1, true) then
		command = "plugin-host" -- not installed by `plugin-host daw install`: use PATH
	end

	-- ---- small helpers ---------------------------------------------------------------
	local function quote (s)
		return "'" .. tostring (s):gsub ("'", "'\\''") .. "'"
	end

	local function message (title, text)
		LuaDialog.Message (title, text, LuaDialog.MessageType.Error, LuaDialog.ButtonType.Close):run ()
	end

	local function safe_name (s)
		local n = s:gsub ("[^%w%-_. ]", "_")
		return n
	end

	-- The choice of stems: from the preset parameters, or a dialog.
	local function choose ()
		if p["stems"] and p["stems"] ~= "" then
			return { stems = p["stems"], mute = (p["mute"] or "yes") ~= "no" }
		end
		local dialog = LuaDialog.Dialog ("Split into stems", {
			{ type = "dropdown", key = "stems", title = "Split into", values = {
				["Drums, bass, vocals, other"] = "drums,bass,vocals,other",
				["Drums, bass, guitar, vocals, other"] = "drums,bass,guitar,vocals,other",
				["Vocals and instrumental"] = "vocals",
				["Drums and the rest"] = "drums",
				["2 blind sources"] = "clusters:2",
				["3 blind sources"] = "clusters:3",
				["4 blind sources"] = "clusters:4",
			}, default = "Drums, bass, vocals, other" },
			{ type = "checkbox", key = "mute", default = (p["mute"] or "yes") ~= "no", title = "Mute the original region" },
		})
		local rv = dialog:run ()
		if not rv then return nil end
		return rv
	end

	-- The region's channels as files and its range in seconds of those files.
	local function region_input (ar)
		local files = {}
		for c = 0, ar:n_channels () - 1 do
			local fs = ar:source (c):to_filesource ()
			if fs:isnil () then return nil, "a channel of region '" .. ar:name () .. "' has no file" end
			files[#files + 1] = fs:path ()
		end
		local sr = Session:nominal_sample_rate ()
		return {
			files = files,
			start = ar:start ():samples () / sr,
			length = ar:length ():samples () / sr,
		}
	end

	-- Run `plugin-host daw split`, showing its progress; returns the stem files or nil, error.
	local function split (input, out_dir, choice, label, progress)
		local args = { quote (command), "daw", "split", quote (input.files[1]), quote (out_dir) }
		for i = 2, #input.files do
			args[#args + 1] = "--channel-file " .. quote (input.files[i])
		end
		local k = choice.stems:match ("^clusters:(%d+)$")
		if k then
			args[#args + 1] = "--clusters " .. k
		else
			args[#args + 1] = "--stems " .. quote (choice.stems)
		end
		args[#args + 1] = string.format ("--start %.17g --length %.17g", input.start, input.length)
		local server = p["server"] or "127.0.0.1:9000"
		if server == "none" then
			args[#args + 1] = "--no-server"
		else
			args[#args + 1] = "--server " .. quote (server)
		end
		local pipe = io.popen (table.concat (args, " ") .. " 2>&1")
		if not pipe then return nil, "cannot run " .. command end
		local done, err, ok = {}, nil, false
		for line in pipe:lines () do
			local f = line:match ("^progress ([%d.eE+-]+)$")
			if f then
				if progress:progress (tonumber (f), label) then
					err = "cancelled"
					break
				end
			elseif line:match ("^done ") then
				done[#done + 1] = line:sub (6)
			elseif line == "ok" then
				ok = true
			elseif line:match ("^error ") then
				err = line:sub (7)
			elseif not err and line ~= "" then
				err = line -- e.g. the shell's "command not found"
			end
		end
		pipe:close ()
		if ok and #done > 0 and err == nil then return done end
		return nil, err or "the split ended without a result"
	end

	-- Import stem files as new tracks at `pos`; returns the new routes keyed by stem.
	local function import (stem_files, pos)
		local before = {}
		for r in Session:get_routes ():iter () do before[r:to_stateful ():id ():to_s ()] = true end
		local files = C.StringVector ()
		for _, f in ipairs (stem_files) do files:push_back (f) end
		local at = Temporal.timepos_t (pos)
		Editor:do_import (files, Editing.ImportDistinctFiles, Editing.ImportAsTrack, ARDOUR.SrcQuality.SrcBest,
			ARDOUR.MidiTrackNameSource.SMFTrackName, ARDOUR.MidiTempoMapDisposition.SMFTempoIgnore,
			at, ARDOUR.PluginInfo (), ARDOUR.Track (), false)
		local added = {}
		for r in Session:get_routes ():iter () do
			if not before[r:to_stateful ():id ():to_s ()] then added[#added + 1] = r end
		end
		return added
	end

	-- Ardour keeps its own copies of imported files: the split's files can go.
	local function remove_files (files, dir)
		for _, f in ipairs (files) do os.remove (f) end
		os.remove (dir)
	end

	-- ---- the action ----------------------------------------------------------------------
	local regions = {}
	for r in Editor:get_selection ().regions:regionlist ():iter () do
		local ar = r:to_audioregion ()
		if not ar:isnil () then regions[#regions + 1] = ar end
	end
	if #regions == 0 then
		message ("Split into stems", "Select one or more audio regions first.")
		return
	end
	local choice = choose ()
	if not choice then return end

	local progress = LuaDialog.ProgressWindow ("Split into stems", true)
	local failures = {}
	local stamp = os.date ("%Y%m%d-%H%M%S")
	for i, ar in ipairs (regions) do
		local label = string.format ("Splitting '%s' (%d of %d)", ar:name (), i, #regions)
		local input, err = region_input (ar)
		local stems
		if input then
			local out_dir = Session:path () .. "stems/" .. safe_name (ar:name ()) .. "-" .. stamp .. "-" .. i
			stems, err = split (input, out_dir, choice, label, progress)
			if stems then
				local pos = ar:position ():samples ()
				local routes = import (stems, pos)
				if #routes ~= #stems then
					err = string.format ("imported %d of %d stems of '%s'", #routes, #stems, ar:name ())
				end
				for _, r in ipairs (routes) do
					-- Ardour names an imported track after its file: the stem.
					r:set_name (r:name () .. " (" .. ar:name () .. ")")
				end
				if not err then
					if choice.mute then ar:set_muted (true) end
					remove_files (stems, out_dir)
				end
			end
		end
		if err then
			failures[#failures + 1] = ar:name () .. ": " .. err
			if err == "cancelled" then break end
		end
	end
	progress:done ()
	if #failures > 0 then
		message ("Split into stems failed", table.concat (failures, "\n"))
	end
end end

function icon (params) return function (ctx, width, height, fg)
	-- four stacked bars: one region becoming four stems
	local h = math.floor (height / 6)
	for i = 0, 3 do
		ctx:rectangle (width * .15, height * .12 + i * (h + 2), width * .7, h)
		ctx:set_source_rgba (.3 + .15 * i, .7 - .1 * i, .9 - .15 * i, 1)
		ctx:fill ()
	end
end end
