-- GET the URL given to wrk, with the Authorization header in BENCH_AUTH ("none": no header).
local auth = os.getenv("BENCH_AUTH")
if auth ~= "none" then wrk.headers["Authorization"] = auth end
