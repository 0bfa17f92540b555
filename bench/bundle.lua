-- wrk script: POST /fhir with a transaction Bundle of 100 Observation creates.
--   wrk -t2 -c32 -d10s --latency -s bench/bundle.lua http://HOST:PORT/fhir -- PATIENT_ID [ENTRIES]
-- The whole Bundle commits or fails as one (FHIR R4 http.html#transaction). Every response
-- must be 200 with a transaction-response; done() prints "status NNN: count" and
-- "entries per bundle: N" lines that run.sh parses.
local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    local patient = args[1] or "example"
    entries_per_bundle = tonumber(args[2] or "100")
    local parts = {}
    for i = 1, entries_per_bundle do
        parts[#parts + 1] = string.format(
            [[{"fullUrl":"urn:uuid:00000000-0000-4000-8000-%012d",]] ..
            [["resource":{"resourceType":"Observation","status":"final",]] ..
            [["code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}]},]] ..
            [["subject":{"reference":"Patient/%s"},]] ..
            [["effectiveDateTime":"2024-05-01T10:%02d:%02dZ",]] ..
            [["valueQuantity":{"value":%d,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}},]] ..
            [["request":{"method":"POST","url":"Observation"}}]],
            i, patient, math.floor(i / 60) % 60, i % 60, 60 + i % 40)
    end
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/fhir+json"
    wrk.body = [[{"resourceType":"Bundle","type":"transaction","entry":[]] ..
        table.concat(parts, ",") .. "]}"
    statuses = {}
end

function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
    local total = {}
    for _, thread in ipairs(threads) do
        local s = thread:get("statuses")
        for code, n in pairs(s) do
            total[code] = (total[code] or 0) + n
        end
    end
    for code, n in pairs(total) do
        io.write(string.format("status %d: %d\n", code, n))
    end
    io.write(string.format("entries per bundle: %d\n", threads[1]:get("entries_per_bundle")))
end
