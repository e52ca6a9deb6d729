-- wrk script for the 1 MiB POST echo: every request carries the same 1 MiB
-- body; wrk adds Content-Length itself.
wrk.method = "POST"
wrk.body = string.rep("a", 1024 * 1024)
wrk.headers["Content-Type"] = "application/octet-stream"
