-- POST JSON bodies at a constant total rate, timing each from its scheduled send time.
--
--   wrk -t N -c N -d SECONDS -s constant_rate.lua URL -- BODIES RATE START N
--
-- wrk2's method in plain wrk (Debian has no wrk2): one connection per thread,
-- so each thread's requests and answers alternate. Thread k of N sends its
-- i-th request at START + (k + i N) / RATE (START is CLOCK_MONOTONIC seconds,
-- the clock of Python's time.monotonic), waiting with wrk's delay(). A slow
-- answer makes the next request late, and its latency still counts from its
-- scheduled time, so a stalled server cannot hide its queue (no coordinated
-- omission). Bodies: thread k sends the lines of the file BODIES.k in turn,
-- again from the first when they run out (one file each, so that no thread
-- parses the others' bodies while the schedule runs). At the end, on standard
-- output, one line per answer: "answer <status> <microseconds from scheduled
-- time>", and one line "schedule <sent> <behind>": requests sent, and how many
-- requests each connection's last send was behind its schedule, summed: due
-- but never sent, their connection still waiting when wrk stopped
-- (benchmarks/load.py reports them, as their latency is unknown).

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } ageverify_timespec;
int clock_gettime(int clk_id, ageverify_timespec *tp);
]])
local CLOCK_MONOTONIC = 1
local timespec = ffi.new("ageverify_timespec")

local function now()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) * 1e-9
end

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  threads[#threads + 1] = thread
end

local requests = {}
local position = 1
local started
-- Read by done() through thread:get, so global.
answers = {}
sent = 0
interval = 0
due = 0
lag = 0

function init(args)
  local path, rate, start = args[1] .. "." .. id, tonumber(args[2]), tonumber(args[3])
  local count = tonumber(args[4])
  local headers = { ["Content-Type"] = "application/json" }
  for line in io.lines(path) do
    if line ~= "" then
      requests[#requests + 1] = wrk.format("POST", nil, headers, line)
    end
  end
  if #requests == 0 then
    error("no body in " .. path)
  end
  interval = count / rate
  due = start + id / rate
end

function delay()
  local wait = due - now()
  if wait <= 0 then
    return 0
  end
  return math.ceil(wait * 1000)
end

function request()
  -- Sent early (a first request wrk does not delay) counts from the send.
  local sending = now()
  started = math.min(due, sending)
  lag = math.max(0, sending - due)
  due = due + interval
  sent = sent + 1
  local current = requests[position]
  position = position % #requests + 1
  return current
end

function response(status, headers, body)
  answers[#answers + 1] = string.format("answer %d %d", status, math.floor((now() - started) * 1e6))
end

function done(summary, latency, requests)
  local total_sent, behind = 0, 0
  for _, thread in ipairs(threads) do
    for _, line in ipairs(thread:get("answers")) do
      io.write(line, "\n")
    end
    total_sent = total_sent + thread:get("sent")
    local every = thread:get("interval")
    if every > 0 then
      behind = behind + math.floor(thread:get("lag") / every)
    end
  end
  io.write(string.format("schedule %d %d\n", total_sent, behind))
end
