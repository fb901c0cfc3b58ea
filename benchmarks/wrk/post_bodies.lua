-- POST one JSON body per request, taken in turn from a file of bodies, one a line.
--
--   wrk -t THREADS -c CONNECTIONS -d SECONDS -s post_bodies.lua URL -- BODIES THREADS
--
-- Thread k of n sends lines k, k+n, k+2n, ... so that no two threads send the
-- same body: an issuance body carries a single-use attestation. A file with
-- fewer bodies than threads (a verify body, which may be repeated) is sent
-- whole by every thread. A thread that
-- reaches the end starts again (the issuer then refuses the replays, which
-- shows in the non-2xx count: python -m benchmarks.load writes enough bodies).
-- At the end, one line "wrk-summary {json}" with the counts and latency
-- percentiles in microseconds, read by benchmarks/load.py.

local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

local requests = {}
local position = 1

function init(args)
  local path, threads = args[1], tonumber(args[2])
  local headers = { ["Content-Type"] = "application/json" }
  local lines = {}
  for line in io.lines(path) do
    if line ~= "" then
      lines[#lines + 1] = line
    end
  end
  if #lines == 0 then
    error("no body in " .. path)
  end
  for i = 1, #lines do
    -- Fewer bodies than threads (one verify body): every thread sends them all.
    if (i - 1) % threads == id or #lines < threads then
      requests[#requests + 1] = wrk.format("POST", nil, headers, lines[i])
    end
  end
end

function request()
  local current = requests[position]
  position = position % #requests + 1
  return current
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'wrk-summary {"requests": %d, "duration_us": %d, "non_2xx": %d, "connect_errors": %d, '
      .. '"read_errors": %d, "write_errors": %d, "timeouts": %d, '
      .. '"p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, errors.status, errors.connect, errors.read,
    errors.write, errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max
  ))
end
