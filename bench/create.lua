-- wrk script: POST /fhir/Observation (a durable create per request).
--   wrk -t2 -c32 -d10s --latency -s bench/create.lua http://HOST:PORT/fhir/Observation -- PATIENT_ID
-- Every response must be 201 Created; done() prints "status NNN: count" lines that run.sh
-- parses, so a server answering 4xx/5xx quickly cannot pass for a fast one.
local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    local patient = args[1] or "example"
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/fhir+json"
    -- return=minimal: the client does not need the echo; the server still writes and indexes.
    wrk.headers["Prefer"] = "return=minimal"
    wrk.body = [[{"resourceType":"Observation","status":"final",]] ..
        [["category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],]] ..
        [["code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}]},]] ..
        [["subject":{"reference":"Patient/]] .. patient .. [["},]] ..
        [["effectiveDateTime":"2024-05-01T10:00:00Z",]] ..
        [["valueQuantity":{"value":72,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}}]]
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
end
