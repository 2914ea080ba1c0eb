-- GET the URL given to wrk, with HTTP Basic credentials from BENCH_AUTH (base64 of user:password).
wrk.headers["Authorization"] = "Basic " .. os.getenv("BENCH_AUTH")
