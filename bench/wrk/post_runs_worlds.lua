-- POST /api/chat/runs as in post_runs.lua, each request in the next of N isolated worlds in turn
-- (x-mock-world: w-0 .. w-(N-1); N is the script's first argument, `wrk ... URL -- N`, default 100).
-- The N requests are formatted once per thread in init(); request() only hands out the next one.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
local requests, turn = {}, 0

function init(args)
  local n = tonumber(args[1]) or 100
  local headers = {["x-api-key"] = "recoup_sk_test_alice", ["content-type"] = "application/json"}
  for k = 0, n - 1 do
    headers["x-mock-world"] = "w-" .. k
    requests[k + 1] = wrk.format("POST", "/api/chat/runs", headers, '{"prompt":"hi"}')
  end
end

function request()
  turn = turn % #requests + 1
  return requests[turn]
end

done = report
