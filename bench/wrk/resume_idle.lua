-- GET /api/chat/{idle chat}/stream: resume when nothing runs (204).
-- "Prefer: code=204" makes Prism answer 204 too (it would pick the spec's 200 example otherwise);
-- the mock and the bare app ignore it.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
wrk.method = "GET"
wrk.path = "/api/chat/c4a70000-0000-4000-8000-000000000001/stream"
wrk.headers["x-api-key"] = "recoup_sk_test_alice"
wrk.headers["prefer"] = "code=204"
done = report
