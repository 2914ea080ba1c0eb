-- POST one form, the same each time (send: one message after another on each connection).
-- BENCH_FORM is the form, url-encoded; BENCH_AUTH the whole Authorization header.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_FORM")
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
