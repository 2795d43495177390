-- etcd_gateway_cycle.lua: the raw floor of Python tooz's etcd3gw lock cycle, driven by wrk (C)
-- over etcd's JSON gateway on one connection, with no client library:
--
--   wrk -t1 -c1 -d3s -s etcd_gateway_cycle.lua http://127.0.0.1:PORT -- KEY_B64 VALUE_B64
--
-- One cycle is the three POSTs tooz's etcd3gw driver makes for an uncontended lock: a lease
-- grant (a new lease per acquisition), a txn that puts the key on it if its create revision is
-- 0, and a txn that deletes it if its value is ours. Each is sent after the previous answer.
-- done() prints one JSON line in the probes' format (probe_common.h): the mean cycle time
-- (the run's duration divided by the completed cycles), in the median_us field.
local headers = { ["Content-Type"] = "application/json" }
local key, value
local step, lease = 0, "0"

function init(args)
    key, value = args[1], args[2]
end

function request()
    if step == 0 then
        return wrk.format("POST", "/v3/lease/grant", headers, '{"TTL": 30}')
    elseif step == 1 then
        return wrk.format("POST", "/v3/kv/txn", headers, string.format(
            '{"compare": [{"key": "%s", "result": "EQUAL", "target": "CREATE", "create_revision": 0}],'
                .. ' "success": [{"request_put": {"key": "%s", "value": "%s", "lease": "%s"}}],'
                .. ' "failure": [{"request_range": {"key": "%s"}}]}',
            key, key, value, lease, key))
    else
        return wrk.format("POST", "/v3/kv/txn", headers, string.format(
            '{"compare": [{"key": "%s", "result": "EQUAL", "target": "VALUE", "value": "%s"}],'
                .. ' "success": [{"request_delete_range": {"key": "%s"}}]}',
            key, value, key))
    end
end

function response(status, headers, body)
    if step == 0 then
        lease = string.match(body, '"ID":"(%d+)"') or "0"
    elseif step == 1 and not string.find(body, '"succeeded":true', 1, true) then
        -- Counted as an error by wrk's summary: the key was not free.
        wrk.thread:stop()
    end
    step = (step + 1) % 3
end

function done(summary, latency, requests)
    local cycles = math.floor(summary.requests / 3)
    local mean = cycles > 0 and summary.duration / cycles or 0
    io.write(string.format(
        '{"key": "lock_gateway", "operation": "tooz-style lock cycle over the JSON gateway (lease grant, txn put, txn delete; wrk, mean of %d cycles)", "iterations": %d, "median_us": %.3f, "p90_us": null}\n',
        cycles, cycles, mean))
end
