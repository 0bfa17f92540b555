#!/usr/bin/env node
// A tiny stand-in for `carnet serve`, for front-end work while the C++ server grows.
// No dependencies. Serves web/dist with SPA fallback (paths without a dot → index.html) under
// the same strict CSP as the real server, and answers the FHIR R4 calls the portal makes with
// searchset Bundles built from a few Synthea patient files.
//
//   node mock-server.mjs                     # http://127.0.0.1:8090, 4 patients
//   PORT=9000 MOCK_PATIENTS=all node mock-server.mjs
//
// Environment:
//   PORT               port to listen on (default 8090; 0 = any free port, printed on start)
//   HOST               default 127.0.0.1
//   CARNET_WEB_DIST    built portal (default: <repo>/web/dist)
//   CARNET_SYNTHEA_DIR Synthea R4 bundles (default: <repo>/../shared/data/synthea-r4,
//                      then /work/shared/data/synthea-r4)
//   MOCK_PATIENTS      how many patient files to load, or "all" (default 4)
//   MOCK_DELAY_MS      delay every FHIR answer (to look at loading states)
//   MOCK_FAIL          comma-separated resource types whose searches answer 500 + OperationOutcome
//
// Supported FHIR interactions (the portal's needs, nothing more):
//   GET /fhir/metadata
//   GET /fhir/{type}/{id}
//   GET /fhir/Patient?_count=&_sort=family|-family|birthdate&family=&name=&_summary=count
//   GET /fhir/{type}?patient={id}&_count=&_sort=[-]date|[-]recorded-date|[-]authoredon&_summary=count
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const PORT = Number(process.env.PORT ?? 8090);
const HOST = process.env.HOST ?? '127.0.0.1';
const DIST = path.resolve(process.env.CARNET_WEB_DIST ?? path.join(repo, 'web', 'dist'));
const DATA = [process.env.CARNET_SYNTHEA_DIR, path.resolve(repo, '..', 'shared', 'data', 'synthea-r4'), '/work/shared/data/synthea-r4']
  .filter(Boolean)
  .find((d) => fs.existsSync(d));
const HOW_MANY = process.env.MOCK_PATIENTS ?? '4';
const DELAY = Number(process.env.MOCK_DELAY_MS ?? 0);
const FAIL = new Set((process.env.MOCK_FAIL ?? '').split(',').map((s) => s.trim()).filter(Boolean));

// Same policy as src/http/static_files.cpp, so that a CSP violation shows up here too.
const CSP = "default-src 'self'; base-uri 'self'; object-src 'none'; frame-ancestors 'none'; form-action 'self'";
const FHIR_JSON = 'application/fhir+json; charset=utf-8';
const TYPES = ['Patient', 'Observation', 'Condition', 'Immunization', 'Encounter', 'MedicationRequest', 'DocumentReference', 'DiagnosticReport', 'Procedure'];

// ---------- Data ----------
/** type → Map(id → resource) */
const store = new Map(TYPES.map((t) => [t, new Map()]));

function load() {
  if (!DATA) {
    console.warn('mock-server: no Synthea directory found; FHIR answers will be empty');
    return;
  }
  const files = fs
    .readdirSync(DATA)
    .filter((f) => f.endsWith('.json') && /^[A-Z][a-z]+\d*_[A-Za-z]+\d*_[0-9a-f-]+\.json$/.test(f))
    .sort();
  // Few Synthea records hold treatments: put those first so that every section has content.
  const texts = new Map(files.map((f) => [f, fs.readFileSync(path.join(DATA, f), 'utf8')]));
  const rich = (f) => (/"resourceType"\s*:\s*"MedicationRequest"/.test(texts.get(f)) ? 0 : 1);
  files.sort((a, b) => rich(a) - rich(b) || a.localeCompare(b));
  const chosen = HOW_MANY === 'all' ? files : files.slice(0, Math.max(0, Number(HOW_MANY) || 0));
  for (const f of chosen) {
    const bundle = JSON.parse(texts.get(f));
    for (const e of bundle.entry ?? []) {
      const r = e.resource;
      if (!r || !store.has(r.resourceType)) continue;
      store.get(r.resourceType).set(r.id, r);
    }
  }
  texts.clear();
  const counts = [...store].map(([t, m]) => `${t}=${m.size}`).join(' ');
  console.log(`mock-server: loaded ${chosen.length} patient file(s) from ${DATA}: ${counts}`);
}

const idOf = (ref) => (ref ? String(ref).replace(/^urn:uuid:/, '').replace(/^Patient\//, '') : undefined);

function patientOf(r) {
  return idOf(r.subject?.reference ?? r.patient?.reference);
}

const DATE_OF = {
  Observation: (r) => r.effectiveDateTime ?? r.effectivePeriod?.start ?? r.issued,
  Condition: (r) => r.recordedDate ?? r.onsetDateTime,
  Immunization: (r) => r.occurrenceDateTime ?? r.recorded,
  Encounter: (r) => r.period?.start,
  MedicationRequest: (r) => r.authoredOn,
  DocumentReference: (r) => r.date,
  DiagnosticReport: (r) => r.effectiveDateTime ?? r.issued,
  Procedure: (r) => r.performedDateTime ?? r.performedPeriod?.start,
};

const SORT_KEYS = {
  date: (type, r) => DATE_OF[type]?.(r),
  'recorded-date': (_t, r) => r.recordedDate,
  'onset-date': (_t, r) => r.onsetDateTime,
  authoredon: (_t, r) => r.authoredOn,
  birthdate: (_t, r) => r.birthDate,
  family: (_t, r) => (r.name?.find((n) => n.use === 'official') ?? r.name?.[0])?.family,
  _lastUpdated: (_t, r) => r.meta?.lastUpdated,
};

// ---------- FHIR ----------
function outcome(status, code, diagnostics) {
  return [status, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics }] }];
}

function search(type, q, base) {
  if (FAIL.has(type)) return outcome(500, 'exception', `Mock failure for ${type} (MOCK_FAIL)`);
  let list = [...store.get(type).values()];
  for (const [name, value] of q) {
    if (name.startsWith('_')) continue;
    if (name === 'patient' || name === 'subject') {
      const pid = idOf(value);
      list = list.filter((r) => patientOf(r) === pid);
    } else if (type === 'Patient' && (name === 'family' || name === 'name')) {
      const v = value.toLowerCase();
      list = list.filter((r) =>
        (r.name ?? []).some((n) => [n.family, ...(n.given ?? [])].some((s) => s?.toLowerCase().startsWith(v))),
      );
    } else if (name === '_id') {
      list = list.filter((r) => r.id === value);
    } else {
      return outcome(400, 'not-supported', `Unknown search parameter "${name}" for ${type}`);
    }
  }
  const sort = q.get('_sort');
  if (sort) {
    for (const key of sort.split(',').reverse()) {
      const desc = key.startsWith('-');
      const k = desc ? key.slice(1) : key;
      const get = SORT_KEYS[k];
      if (!get) return outcome(400, 'not-supported', `Unknown sort parameter "${k}" for ${type}`);
      list.sort((a, b) => {
        const va = get(type, a) ?? '';
        const vb = get(type, b) ?? '';
        const c = va < vb ? -1 : va > vb ? 1 : 0;
        return desc ? -c : c;
      });
    }
  }
  const total = list.length;
  const self = `${base}/${type}?${q.toString()}`;
  if (q.get('_summary') === 'count') {
    return [200, { resourceType: 'Bundle', type: 'searchset', total, link: [{ relation: 'self', url: self }] }];
  }
  const count = Math.min(Math.max(Number(q.get('_count') ?? 50) || 0, 0), 500);
  const page = list.slice(0, count);
  return [
    200,
    {
      resourceType: 'Bundle',
      type: 'searchset',
      total,
      link: [{ relation: 'self', url: self }],
      entry: page.map((r) => ({ fullUrl: `${base}/${type}/${r.id}`, resource: r, search: { mode: 'match' } })),
    },
  ];
}

function fhir(req, url) {
  const base = `http://${req.headers.host}/fhir`;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return outcome(405, 'not-supported', `Method ${req.method} is not supported by the mock`);
  }
  const parts = url.pathname.replace(/^\/fhir\/?/, '').split('/').filter(Boolean);
  if (parts.length === 1 && parts[0] === 'metadata') {
    return [200, {
      resourceType: 'CapabilityStatement', status: 'active', kind: 'instance', fhirVersion: '4.0.1', format: ['json'],
      software: { name: 'Carnet mock server (tests/e2e/mock-server.mjs)' },
      rest: [{ mode: 'server', resource: TYPES.map((type) => ({ type, interaction: [{ code: 'read' }, { code: 'search-type' }] })) }],
    }];
  }
  const [type, id] = parts;
  if (!type || !store.has(type) || parts.length > 2) {
    return outcome(404, 'not-found', `Resource type "${type ?? ''}" is not supported`);
  }
  if (id) {
    const r = store.get(type).get(id);
    return r ? [200, r] : outcome(404, 'not-found', `${type}/${id} was not found`);
  }
  return search(type, url.searchParams, base);
}

// ---------- Static files ----------
const MIME = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.json': 'application/json', '.webmanifest': 'application/manifest+json',
  '.woff2': 'font/woff2', '.txt': 'text/plain; charset=utf-8', '.map': 'application/json',
};

function staticFile(req, res, url) {
  let rel = decodeURIComponent(url.pathname);
  const last = rel.split('/').pop() ?? '';
  if (!last.includes('.')) rel = '/index.html'; // SPA fallback
  const file = path.resolve(DIST, '.' + rel);
  if (!file.startsWith(DIST + path.sep)) return send(res, 403, 'text/plain', 'Forbidden');
  fs.readFile(file, (err, body) => {
    if (err) {
      if (rel === '/index.html') return send(res, 500, 'text/plain; charset=utf-8', `web/dist not built (${DIST}): run "npm run build" in web/`);
      return send(res, 404, 'text/plain; charset=utf-8', 'Not found');
    }
    const type = MIME[path.extname(file)] ?? 'application/octet-stream';
    const cache = rel.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache';
    send(res, 200, type, req.method === 'HEAD' ? '' : body, { 'Cache-Control': cache });
  });
}

function send(res, status, type, body, extra = {}) {
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Security-Policy': CSP,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    ...extra,
  });
  res.end(body);
}

load();

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname === '/fhir' || url.pathname.startsWith('/fhir/')) {
    const [status, body] = fhir(req, url);
    const reply = () => send(res, status, FHIR_JSON, req.method === 'HEAD' ? '' : JSON.stringify(body));
    if (DELAY > 0) setTimeout(reply, DELAY);
    else reply();
    if (process.env.MOCK_LOG) console.log(req.method, req.url, status);
    return;
  }
  staticFile(req, res, url);
});

server.listen(PORT, HOST, () => {
  const { port } = server.address();
  console.log(`mock-server: listening on http://${HOST}:${port}`);
});

for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)));
