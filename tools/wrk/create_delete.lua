-- Create, then delete, one number per connection, over and over. Run with as many wrk threads
-- as connections (-t = -c), so each connection has its own number and its own order: the POST
-- always precedes its DELETE, and no two connections race for one number.
-- BENCH_NUMBERS is a comma-separated list of free PN SIDs, at least one per connection.
-- Each request gets a header table of its own: wrk.format writes Content-Length into the table
-- it is given, and a DELETE must not inherit the POST's.
local numbers = {}
for sid in string.gmatch(os.getenv("BENCH_NUMBERS"), "[^,]+") do table.insert(numbers, sid) end
local auth = os.getenv("BENCH_AUTH")  -- the whole Authorization header
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("index", counter)
end

function init(args)
  sid = numbers[index]
  creating = true
end

function request()
  local headers = {["Authorization"] = auth}
  if creating then
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    return wrk.format("POST", wrk.path, headers, "PhoneNumberSid=" .. sid)
  end
  return wrk.format("DELETE", wrk.path .. "/" .. sid, headers)
end

-- The next step follows what the server answered, not what was last generated: wrk may build a
-- request and drop it (when it reconnects), which would otherwise put a DELETE before its POST.
function response(status, headers, body)
  if status == 201 then creating = false elseif status == 204 then creating = true end
end
