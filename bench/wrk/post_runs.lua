-- POST /api/chat/runs: a headless run (202 + Location). Every request starts a run on the mock.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
wrk.method = "POST"
wrk.path = "/api/chat/runs"
wrk.body = '{"prompt":"hi"}'
wrk.headers["x-api-key"] = "recoup_sk_test_alice"
wrk.headers["content-type"] = "application/json"
done = report
