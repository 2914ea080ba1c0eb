-- Create, then delete, one number per connection, over and over. Run with as many wrk threads
-- as connections (-t = -c), so each connection has its own number and its own order: the POST
-- always precedes its DELETE, and no two connections race for one number.
-- BENCH_NUMBERS is a comma-separated list of free PN SIDs, at least one per connection.
local numbers = {}
for sid in string.gmatch(os.getenv("BENCH_NUMBERS"), "[^,]+") do table.insert(numbers, sid) end
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("index", counter)
end

function init(args)
  sid = numbers[index]
  creating = true
  wrk.headers["Authorization"] = "Basic " .. os.getenv("BENCH_AUTH")
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

function request()
  local method, path, body = "DELETE", wrk.path .. "/" .. sid, nil
  if creating then method, path, body = "POST", wrk.path, "PhoneNumberSid=" .. sid end
  creating = not creating
  return wrk.format(method, path, nil, body)
end
