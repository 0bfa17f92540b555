#!/usr/bin/env node
// A tiny stand-in for `carnet serve`, for front-end work while the C++ server grows.
// No dependencies. Serves web/dist with SPA fallback (paths without a dot → index.html) under
// the same strict CSP as the real server, answers the FHIR R4 calls the portal makes with
// searchset Bundles built from a few Synthea patient files, and implements the identity API of
// docs/AUTH-API.md (/auth, /directory, /admin) in memory, with the same cookies and CSRF rule.
// /fhir needs a session (401 without one), as on the real server.
//
//   node mock-server.mjs                     # http://127.0.0.1:8090, 4 patients
//   PORT=9000 MOCK_PATIENTS=all node mock-server.mjs
//
// Demo accounts (password "Carnet-demo-2026!" for the active ones):
//   patient       marie.martin@demo.carnet.fr   (or INS 285037512345688), codes by e-mail
//   professional  paul.durand@demo.carnet.fr    (or RPPS 10001234565), médecin
//                 thomas.garnier@demo.carnet.fr (masseur-kinésithérapeute, no access until a
//                 patient hands him a code, as kine@carnet.localhost on the real server)
//   advisor       conseil.demo
//   admin         admin.demo
//   pending patients (activation / opposition): INS 179021305432127 code K7M2-P9QX-4TRD,
//                                               INS 292056908812361 code W3HN-8CVB-2ZPE
//   second patient (to invite as caregiver)  camille.lambert@demo.carnet.fr
//   parent of a minor (Léa, 2016)            dominique.rousseau@demo.carnet.fr
//   patient for the closure test             claude.fabre@demo.carnet.fr
// Secure messaging (docs/MESSAGING.md, /messages) is kept in memory too: Marie Martin has two
// threads with Paul Durand, one unread with a lab report attached (POST /fhir transactions and
// GET /fhir/Binary/{id} hold the documents' content, so attachments can be deposited and opened).
// The access API of docs/ACCESS-API.md (/access: the holder's settings, professionals,
// temporary codes, masking, the access log, emergencies; codes and break-the-glass for
// professionals; the grid for admins) is kept in memory too. Marie Martin's record starts with
// Paul Durand as médecin traitant, Inès Roux blocked, a past break-the-glass by Karim Haddad and
// a few log entries; professionals read FHIR only through the access decision (404 otherwise).
// Records reachable by a session (own, represented minors, caregiving) follow the
// delegations: invitations send a XXXX-XXXX-XXXX code by mail ("… saisissez le code : …").
// Every code sent is printed on the console and written to the outbox folder as the real
// server's file transport does: one .eml per e-mail (the body says "… est : 123456"), one
// .sms.txt per SMS, plus last-code.txt holding the last code alone.
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
//   CARNET_OUTBOX      where sent codes are written (default: $MOCK_OUTBOX, then
//                      tests/e2e/artifacts/mock-outbox)
//   MOCK_REAUTH_WINDOW_S  how long after login or POST /auth/reauth/confirm closing, deleting,
//                      reopening and exporting are allowed (default 300; 0 = always ask)
//
// Supported FHIR interactions (the portal's needs, nothing more):
//   GET /fhir/metadata
//   GET /fhir/{type}/{id}
//   GET /fhir/Patient?_count=&_sort=family|-family|birthdate&family=&name=&_summary=count
//   GET /fhir/{type}?patient={id}&_count=&_sort=[-]date|[-]recorded-date|[-]authoredon&_summary=count
//   GET /fhir/Patient/{id}/$summary                the International Patient Summary (document Bundle)
//   POST /fhir/{type}, PUT /fhir/{type}/{id} (If-Match), DELETE /fhir/{type}/{id}
//                                                    for the profile's types (docs/PROFILE.md)
// and GET /records/{patient}/profile, the portal's medical profile (docs/PROFILE.md): Marie
// Martin's record starts with an allergy and measurements by Dr Paul Durand and a dispensation
// and a stay from the insurer (Assurance Maladie); MOCK_FAIL=profile makes it answer 500.
// A professional gets what the server gives them: the entries the grid's column allows (the
// others make `withheld` true), `can_add` per the grid, the booklet and measures from what they
// see; their writes are decided by the grid too.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
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
const CSP = "default-src 'self'; base-uri 'self'; object-src 'none'; frame-ancestors 'none'; form-action 'self'; img-src 'self' blob:; frame-src blob:";
const FHIR_JSON = 'application/fhir+json; charset=utf-8';
const TYPES = ['Patient', 'Observation', 'Condition', 'Immunization', 'Encounter', 'MedicationRequest', 'DocumentReference', 'DiagnosticReport', 'Procedure',
  // The medical profile's other types (docs/PROFILE.md).
  'FamilyMemberHistory', 'AllergyIntolerance', 'MedicationStatement', 'MedicationDispense', 'Consent', 'RelatedPerson'];

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
  FamilyMemberHistory: (r) => r.date,
  AllergyIntolerance: (r) => r.onsetDateTime ?? r.recordedDate,
  MedicationStatement: (r) => r.effectivePeriod?.start ?? r.effectiveDateTime ?? r.dateAsserted,
  MedicationDispense: (r) => r.whenHandedOver ?? r.whenPrepared,
  Consent: (r) => r.dateTime,
  RelatedPerson: (r) => r.period?.start,
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

function search(type, q, base, hidden = () => false) {
  if (FAIL.has(type)) return outcome(500, 'exception', `Mock failure for ${type} (MOCK_FAIL)`);
  let list = [...store.get(type).values()].filter((r) => !hidden(r));
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
  const isMetadata = parts.length === 1 && parts[0] === 'metadata';
  /** The record whose masked documents this caller may not see. */
  let hideMasked = '';
  if (!isMetadata) {
    // Records need a session; operators never read content; a patient reads their own record.
    const who = authenticate(req);
    if (who.error) return who.error;
    const a = who.account;
    if (a.kind === 'advisor' || a.kind === 'admin') {
      return outcome(403, 'forbidden', "les comptes opérateurs n'ont jamais accès au contenu des dossiers");
    }
    const [type, id] = parts;
    const asked = id
      ? type === 'Patient' ? id : patientOf(store.get(type)?.get(id) ?? {})
      : type === 'Patient' ? url.searchParams.get('_id') : idOf(url.searchParams.get('patient') ?? url.searchParams.get('subject'));
    if (a.kind === 'patient') {
      // One's own record, a represented minor's, or one's as a caregiver (the delegations).
      if (!asked || !recordsOf(a).some((r) => r.patient_id === asked)) return outcome(403, 'forbidden', 'Ce dossier ne vous est pas accessible.');
    }
    if (a.kind === 'professional') {
      // The access decision (blocked, emergency, roles, authorisation), logged; documents the
      // holder masked stay hidden unless this professional sees them.
      const guard = professionalFhir(a, asked, type, !id);
      if (guard.error) return guard.error;
      if (!guard.decision.seesMasked) hideMasked = asked;
    }
  }
  if (isMetadata) {
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
  const masked = (r) => hideMasked && maskedDocs.has(`${hideMasked}|${r.resourceType}/${r.id}`);
  if (id) {
    const r = store.get(type).get(id);
    return r && !masked(r) ? [200, r] : outcome(404, 'not-found', `${type}/${id} was not found`);
  }
  return search(type, url.searchParams, base, masked);
}

// ---------- Identity: /auth, /directory, /admin (docs/AUTH-API.md) ----------
// In memory, lost at restart. Same shapes, statuses, cookies and CSRF rule as the real server;
// no Argon2 or hashing (it is a mock), but nothing here ever returns a code or a password.
const OUTBOX = path.resolve(process.env.CARNET_OUTBOX || process.env.MOCK_OUTBOX || path.join(here, 'artifacts', 'mock-outbox'));
const DEMO_PASSWORD = 'Carnet-demo-2026!';
const SESSION_COOKIE = 'carnet_session';
const DEVICE_COOKIE = 'carnet_device';
const IDLE_US = 15 * 60 * 1e6;
const ABSOLUTE_US = 12 * 3600 * 1e6;
const CODE_TTL_US = 10 * 60 * 1e6;
const DEVICE_TTL_S = 30 * 24 * 3600;
const COMMON_PASSWORDS = new Set(['motdepasse123', 'motdepasse1234', 'password1234', 'password12345', '123456789012', 'azertyuiop12', 'azertyuiopqs', 'carnetcarnet', 'soleil123456', 'bonjour12345']);
const COMMON_WORDS = new Set(['motdepasse', 'password', 'azerty', 'azertyuiop', 'soleil', 'bonjour', 'carnet', 'qwerty', 'doudou', 'chouchou']);
const PROFESSIONS = [
  ['medecin', 'Médecin'],
  ['pharmacien', 'Pharmacien'],
  ['infirmier', 'Infirmier'],
  ['sage-femme', 'Sage-femme'],
  ['chirurgien-dentiste', 'Chirurgien-dentiste'],
  ['masseur-kinesitherapeute', 'Masseur-kinésithérapeute'],
  ['pedicure-podologue', 'Pédicure-podologue'],
  ['orthophoniste', 'Orthophoniste'],
  ['orthoptiste', 'Orthoptiste'],
  ['social', 'Professionnel du social ou du médico-social'],
];

const nowUs = () => Date.now() * 1000;
const token = (bytes = 32) => crypto.randomBytes(bytes).toString('base64url');

/** id → account */
const accounts = new Map();
/** challenge token → { accountId, purpose, channel, destination, code, expires, tries, sends, dead, data } */
const challenges = new Map();
/** session token → { handle, accountId, csrf, createdAt, lastSeen, method, ip, ua, authTime } */
const sessions = new Map();
/** device token → { handle, accountId, label, createdAt, lastUsed, expiresAt } */
const devices = new Map();
/** normalised login → { failures, lockedUntil (µs) } */
const throttles = new Map();
/** account id → [{ at, actor_kind, action, detail }] */
const events = new Map();
/** delegation id → { id, patient_id, patientAccount, delegate, kind, status, code, expires, created_at, accepted_at } */
const delegations = new Map();
const REAUTH_US = Number(process.env.MOCK_REAUTH_WINDOW_S ?? 300) * 1e6;
const INVITE_TTL_US = 7 * 24 * 3600 * 1e6;
const MAX_CAREGIVERS = 3;
const MAJORITY = 18;

function fold(s) {
  return String(s ?? '').normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase();
}

function normalizeIns(text) {
  const s = String(text ?? '').replace(/[\s.-]/g, '').toUpperCase();
  if (!/^[1-478]\d{4}(\d{2}|2A|2B)\d{8}$/.test(s)) return undefined;
  const digits = s.slice(0, 13).replace(/^(\d{5})2A/, '$119').replace(/^(\d{5})2B/, '$118');
  const key = 97 - Number(BigInt(digits) % 97n);
  return key === Number(s.slice(13)) ? s : undefined;
}

function isValidRpps(text) {
  if (!/^\d{11}$/.test(text)) return false;
  let sum = 0;
  for (let i = 0; i < 11; i++) {
    let d = Number(text[10 - i]);
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/** A valid INS from its first 13 characters (the 2-digit key is 97 − n mod 97). */
function insFrom(base13) {
  const key = 97 - Number(BigInt(base13) % 97n);
  return base13 + String(key).padStart(2, '0');
}

function ageInYears(birthDate, at = new Date()) {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(birthDate ?? '');
  if (!m) return -1;
  let age = at.getFullYear() - Number(m[1]);
  if (at.getMonth() + 1 < Number(m[2]) || (at.getMonth() + 1 === Number(m[2]) && at.getDate() < Number(m[3]))) age--;
  return age;
}

function normalizeEmail(text) {
  const s = String(text ?? '').trim();
  const m = /^([^\s@]+)@([^\s@]+\.[^\s@]+)$/.exec(s);
  return m ? `${m[1]}@${m[2].toLowerCase()}` : undefined;
}

function normalizePhone(text) {
  let s = String(text ?? '').replace(/[\s.()-]/g, '');
  if (/^0[1-9]\d{8}$/.test(s)) s = `+33${s.slice(1)}`;
  return /^\+\d{8,15}$/.test(s) ? s : undefined;
}

/** "m•••@d•••.fr" / "•• •• •• •• 42", as auth::MaskDestination does. */
function mask(channel, address) {
  if (!address) return '';
  if (channel === 'sms') return `•• •• •• •• ${address.slice(-2)}`;
  const [local, domain = ''] = address.split('@');
  const dot = domain.lastIndexOf('.');
  const tld = dot >= 0 ? domain.slice(dot) : '';
  return `${local[0] ?? ''}•••@${domain[0] ?? ''}•••${tld}`;
}

function normalizeActivationCode(text) {
  return String(text ?? '').replace(/[-\s]/g, '').toUpperCase().replace(/O/g, '0').replace(/[IL]/g, '1');
}

function newActivationCode() {
  const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  let out = '';
  for (let i = 0; i < 12; i++) {
    if (i && i % 4 === 0) out += '-';
    out += alphabet[crypto.randomInt(32)];
  }
  return out;
}

function passwordProblem(password, login) {
  const p = String(password ?? '');
  if ([...p].length < 12) return 'Le mot de passe doit comporter au moins 12 caractères.';
  if ([...p].length > 128) return 'Le mot de passe ne peut pas dépasser 128 caractères.';
  // "motdepasse123", "Azerty2024!": a common word padded with digits and punctuation.
  const core = p.toLowerCase().replace(/[\d\W_]+$/u, '');
  if (COMMON_PASSWORDS.has(p.toLowerCase()) || COMMON_WORDS.has(core)) return 'Ce mot de passe est trop courant. Choisissez-en un autre.';
  if (login && login.length >= 4 && p.toLowerCase().includes(String(login).toLowerCase())) {
    return 'Le mot de passe ne doit pas contenir votre identifiant.';
  }
  return undefined;
}

// ---- TOTP (RFC 6238: HMAC-SHA1, 30 s, 6 digits), so that a real authenticator app works ----
const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
function base32Encode(buf) {
  let bits = 0, value = 0, out = '';
  for (const byte of buf) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
}
function base32Decode(text) {
  let bits = 0, value = 0;
  const out = [];
  for (const c of text.replace(/[\s=]/g, '').toUpperCase()) {
    const i = B32.indexOf(c);
    if (i < 0) continue;
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}
function totpCode(secretBase32, unixSeconds = Date.now() / 1000) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(unixSeconds / 30)));
  const mac = crypto.createHmac('sha1', base32Decode(secretBase32)).update(counter).digest();
  const off = mac[mac.length - 1] & 15;
  const n = ((mac[off] & 0x7f) << 24) | (mac[off + 1] << 16) | (mac[off + 2] << 8) | mac[off + 3];
  return String(n % 1_000_000).padStart(6, '0');
}
function totpOk(secret, code) {
  const now = Date.now() / 1000;
  return [-30, 0, 30].some((d) => totpCode(secret, now + d) === code);
}

// ---- accounts ----
function displayName(a) {
  if (a.kind === 'professional') return `Dr ${a.given} ${a.family}`.trim();
  return `${a.given ?? ''} ${a.family ?? ''}`.trim() || a.login || a.id;
}

function addAccount(fields) {
  const a = {
    id: fields.id ?? `acc-${crypto.randomUUID()}`,
    kind: 'patient', status: 'active', login: '', ins: '', rpps: '', patient_id: '',
    given: '', family: '', birth_date: '', profession: '', specialty: '', organisation: '',
    email: '', phone: '', email_verified: false, phone_verified: false, second_factor: 'email',
    password: '', totp_enabled: false, totp_secret: '', totp_pending: '',
    activation_code: '', activation_tries: 0,
    created_at: nowUs() - 90 * 24 * 3600 * 1e6, activated_at: 0, closed_at: 0,
    ...fields,
  };
  if (a.status === 'active' && !a.activated_at) a.activated_at = a.created_at + 3600 * 1e6;
  accounts.set(a.id, a);
  return a;
}

function record(a, actorKind, action, detail = '', at = nowUs()) {
  const list = events.get(a.id) ?? [];
  list.push({ at, actor_kind: actorKind, action, detail });
  events.set(a.id, list);
}

function seedAccounts() {
  // Marie Martin's record is the first female Synthea patient, renamed so that the portal's
  // greeting and her record's heading agree.
  const patients = [...store.get('Patient').values()];
  const marieRecord = patients.find((p) => p.gender === 'female') ?? patients[0];
  if (marieRecord) marieRecord.name = [{ use: 'official', family: 'Martin', given: ['Marie'] }];
  const others = patients.filter((p) => p !== marieRecord);
  const day = 24 * 3600 * 1e6;
  const marie = addAccount({
    id: 'acc-marie-martin', kind: 'patient', login: 'marie.martin@demo.carnet.fr', ins: '285037512345688',
    patient_id: marieRecord?.id ?? '', given: 'Marie', family: 'Martin', birth_date: marieRecord?.birthDate ?? '1985-03-12',
    email: 'marie.martin@demo.carnet.fr', email_verified: true, phone: '+33612345642', phone_verified: false,
    password: DEMO_PASSWORD, created_at: nowUs() - 120 * day,
  });
  record(marie, 'admin', 'account.created', '', marie.created_at);
  record(marie, 'advisor', 'operator.resend-activation', '', marie.created_at + 20 * day);
  record(marie, 'patient', 'activation', 'e-mail', marie.created_at + 21 * day);
  marie.activated_at = marie.created_at + 21 * day;
  record(marie, 'patient', 'login', 'code par e-mail', marie.created_at + 40 * day);
  record(marie, 'patient', 'password.change', '', marie.created_at + 41 * day);
  addAccount({
    id: 'acc-lucas-bernard', kind: 'patient', status: 'pending', ins: '179021305432127', patient_id: others[0]?.id ?? '',
    given: 'Lucas', family: 'Bernard', birth_date: '1979-02-13', activation_code: 'K7M2-P9QX-4TRD',
  });
  addAccount({
    id: 'acc-chloe-petit', kind: 'patient', status: 'pending', ins: '292056908812361', patient_id: others[1]?.id ?? '',
    given: 'Chloé', family: 'Petit', birth_date: '1992-05-21', activation_code: 'W3HN-8CVB-2ZPE',
  });
  const pros = [
    ['acc-paul-durand', '10001234565', 'Paul', 'Durand', 'medecin', 'Médecine générale', 'Cabinet médical du Parc, Lyon', 'paul.durand@demo.carnet.fr'],
    ['acc-sophie-lefevre', '10002345675', 'Sophie', 'Lefèvre', 'pharmacien', '', 'Pharmacie des Tilleuls, Nantes', ''],
    ['acc-karim-haddad', '10003456786', 'Karim', 'Haddad', 'infirmier', 'Soins à domicile', 'Cabinet infirmier Saint-Michel, Bordeaux', ''],
    ['acc-julie-moreau', '10004567896', 'Julie', 'Moreau', 'sage-femme', '', 'Maternité Sainte-Anne, Lille', ''],
    ['acc-thomas-garnier', '10005678916', 'Thomas', 'Garnier', 'masseur-kinesitherapeute', 'Rééducation du sport', 'Centre Kiné Bellevue, Rennes', 'thomas.garnier@demo.carnet.fr'],
    ['acc-ines-roux', '10006789126', 'Inès', 'Roux', 'medecin', 'Cardiologie', 'Hôpital Nord, Marseille', ''],
  ];
  for (const [id, rpps, given, family, profession, specialty, organisation, email] of pros) {
    const a = addAccount({
      id, kind: 'professional', rpps, given, family, profession, specialty, organisation,
      login: email, email, email_verified: !!email, status: email ? 'active' : 'pending',
      password: email ? DEMO_PASSWORD : '', activation_code: email ? '' : newActivationCode(),
    });
    record(a, 'admin', 'account.created', '', a.created_at);
  }
  // People who act for someone else: a second patient (to be invited as caregiver), a parent
  // with a minor's record (as on the real server's demo: Léa, born 2016, the parent's name),
  // and a patient whose space the closure test closes and reopens.
  const named = (i, id, given, family, gender, birthDate) => {
    let r = others[i];
    if (!r) {
      r = { resourceType: 'Patient', id, gender, birthDate };
      store.get('Patient').set(id, r);
    }
    r.name = [{ use: 'official', family, given: [given] }];
    return r;
  };
  const camilleRecord = named(2, 'mock-camille-lambert', 'Camille', 'Lambert', 'female', '1975-09-02');
  const camille = addAccount({
    id: 'acc-camille-lambert', kind: 'patient', login: 'camille.lambert@demo.carnet.fr', ins: insFrom('2750975123004'),
    patient_id: camilleRecord.id, given: 'Camille', family: 'Lambert', birth_date: camilleRecord.birthDate ?? '1975-09-02',
    email: 'camille.lambert@demo.carnet.fr', email_verified: true, password: DEMO_PASSWORD,
  });
  record(camille, 'patient', 'activation', 'e-mail', camille.activated_at);
  const parentRecord = named(3, 'mock-dominique-rousseau', 'Dominique', 'Rousseau', 'male', '1982-06-21');
  const parent = addAccount({
    id: 'acc-dominique-rousseau', kind: 'patient', login: 'dominique.rousseau@demo.carnet.fr', ins: insFrom('1820675123005'),
    patient_id: parentRecord.id, given: 'Dominique', family: 'Rousseau', birth_date: parentRecord.birthDate ?? '1982-06-21',
    email: 'dominique.rousseau@demo.carnet.fr', email_verified: true, password: DEMO_PASSWORD,
  });
  const childRecord = { resourceType: 'Patient', id: 'demo-enfant', gender: 'female', birthDate: '2016-03-14', name: [{ use: 'official', family: 'Rousseau', given: ['Léa'] }] };
  store.get('Patient').set(childRecord.id, childRecord);
  store.get('Immunization').set('demo-enfant-ror', {
    resourceType: 'Immunization', id: 'demo-enfant-ror', status: 'completed', patient: { reference: 'Patient/demo-enfant' },
    occurrenceDateTime: '2017-05-10', vaccineCode: { text: 'Rougeole, oreillons, rubéole (ROR)' },
  });
  store.get('Observation').set('demo-enfant-poids', {
    resourceType: 'Observation', id: 'demo-enfant-poids', status: 'final', subject: { reference: 'Patient/demo-enfant' },
    effectiveDateTime: '2024-09-16', code: { text: 'Poids' }, valueQuantity: { value: 27.5, unit: 'kg' },
  });
  const child = addAccount({
    id: 'acc-lea-rousseau', kind: 'patient', status: 'pending', ins: insFrom('2160475123006'), patient_id: childRecord.id,
    given: 'Léa', family: 'Rousseau', birth_date: childRecord.birthDate,
  });
  const repId = `del-${crypto.randomUUID()}`;
  delegations.set(repId, {
    id: repId, patient_id: child.patient_id, patientAccount: child.id, delegate: parent.id, kind: 'representative',
    status: 'active', code: '', expires: 0, created_at: child.created_at, accepted_at: child.created_at,
  });
  record(child, 'admin', 'representative.added', displayName(parent), child.created_at);
  const claudeRecord = named(4, 'mock-claude-fabre', 'Claude', 'Fabre', 'female', '1968-11-30');
  addAccount({
    id: 'acc-claude-fabre', kind: 'patient', login: 'claude.fabre@demo.carnet.fr', ins: insFrom('2681175123007'),
    patient_id: claudeRecord.id, given: 'Claude', family: 'Fabre', birth_date: claudeRecord.birthDate ?? '1968-11-30',
    email: 'claude.fabre@demo.carnet.fr', email_verified: true, password: DEMO_PASSWORD,
  });

  const staff = [
    ['acc-conseil', 'advisor', 'conseil.demo', 'Camille', 'Leroy', 'conseil@demo.carnet.fr'],
    ['acc-admin', 'admin', 'admin.demo', 'Alex', 'Dupuis', 'admin@demo.carnet.fr'],
  ];
  for (const [id, kind, login, given, family, email] of staff) {
    addAccount({ id, kind, login, given, family, email, email_verified: true, password: DEMO_PASSWORD });
  }
  fs.mkdirSync(OUTBOX, { recursive: true, mode: 0o700 });
  console.log(`mock-server: ${accounts.size} accounts; codes go to ${OUTBOX}`);
}

function findByLogin(login) {
  const raw = String(login ?? '').trim();
  if (!raw) return undefined;
  const ins = normalizeIns(raw);
  const l = raw.toLowerCase();
  for (const a of accounts.values()) {
    if (ins && a.ins === ins) return a;
    if (/^\d{11}$/.test(raw) && a.rpps === raw) return a;
    if (a.login && a.login.toLowerCase() === l) return a;
    if (a.email && a.email.toLowerCase() === l && a.status !== 'pending') return a;
  }
  return undefined;
}

// ---- records, representatives, caregivers (src/auth/lifecycle.cpp) ----
/** The records a person reaches: their own, minors they represent, people they help. */
function recordsOf(a) {
  const out = [];
  if (a.kind === 'patient' && a.patient_id) out.push({ patient_id: a.patient_id, display_name: displayName(a), relation: 'self', status: a.status });
  for (const d of delegations.values()) {
    if (d.delegate !== a.id || d.status !== 'active') continue;
    const holder = accounts.get(d.patientAccount);
    if (!holder || (holder.status !== 'active' && holder.status !== 'pending')) continue;
    // Representation ends at majority: from that day the person holds their own record.
    if (d.kind === 'representative' && ageInYears(holder.birth_date) >= MAJORITY) continue;
    out.push({ patient_id: holder.patient_id, display_name: displayName(holder), relation: d.kind, status: holder.status });
  }
  return out;
}

function recordFor(a, patientId) {
  return recordsOf(a).find((r) => r.patient_id === patientId);
}

function delegationJson(d) {
  const to = accounts.get(d.delegate);
  return {
    id: d.id, patient_id: d.patient_id, kind: d.kind, status: d.status,
    delegate_name: d.status === 'active' && to ? displayName(to) : '',
    invited_to: to ? (to.email_verified ? mask('email', to.email) : mask('sms', to.phone)) : '',
    created_at: d.created_at, accepted_at: d.accepted_at || 0,
  };
}

const liveDelegation = (d) => d.status === 'active' || (d.status === 'invited' && d.expires > nowUs());

function endDelegations(test) {
  for (const d of delegations.values()) {
    if (d.status !== 'ended' && test(d)) Object.assign(d, { status: 'ended', code: '', ended_at: nowUs() });
  }
}

// ---- the export archive: a ZIP with the "stored" method (no compression), built by hand ----
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  if (typeof zlib.crc32 === 'function') return zlib.crc32(buf) >>> 0;
  let c = 0xffffffff;
  for (const byte of buf) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** files: [[name, string | Buffer]] → the bytes of a .zip (PKWARE APPNOTE 4.3, UTF-8 names). */
function zipStored(files) {
  const d = new Date();
  const time = (d.getHours() << 11) | (d.getMinutes() << 5) | Math.floor(d.getSeconds() / 2);
  const date = ((d.getFullYear() - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate();
  const locals = [];
  const centrals = [];
  let offset = 0;
  for (const [name, content] of files) {
    const data = Buffer.isBuffer(content) ? content : Buffer.from(content, 'utf8');
    const fileName = Buffer.from(name, 'utf8');
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt16LE(time, 10);
    local.writeUInt16LE(date, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(fileName.length, 26);
    local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(0x031e, 4); // made by: Unix, 3.0
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(0, 10);
    central.writeUInt16LE(time, 12);
    central.writeUInt16LE(date, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(fileName.length, 28);
    central.writeUInt16LE(0, 30); // extra
    central.writeUInt16LE(0, 32); // comment
    central.writeUInt16LE(0, 34); // disk
    central.writeUInt16LE(0, 36); // internal attributes
    central.writeUInt32LE((0o100644 << 16) >>> 0, 38); // external: a regular file, rw-r--r--
    central.writeUInt32LE(offset, 42);
    locals.push(local, fileName, data);
    centrals.push(central, fileName);
    offset += local.length + fileName.length + data.length;
  }
  const centralSize = centrals.reduce((n, b) => n + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, ...centrals, end]);
}

function exportArchive(a) {
  const pid = a.patient_id;
  const resources = [];
  for (const [type, map] of store) {
    for (const r of map.values()) if ((type === 'Patient' && r.id === pid) || (type !== 'Patient' && patientOf(r) === pid)) resources.push(r);
  }
  const bundle = {
    resourceType: 'Bundle', type: 'collection', timestamp: new Date().toISOString(),
    entry: resources.map((r) => ({ fullUrl: `urn:carnet:${r.resourceType}/${r.id}`, resource: r })),
  };
  const account = {
    ...accountJson(a, true),
    delegations: [...delegations.values()].filter((d) => d.patient_id === pid || d.delegate === a.id).map(delegationJson),
    history: [...(events.get(a.id) ?? [])].sort((x, y) => y.at - x.at),
  };
  const readme = [
    'Export de votre espace Carnet',
    '',
    `Fait le ${new Date().toISOString()} pour ${displayName(a)}.`,
    '',
    '- carnet-export.json : tout votre dossier de santé, au format FHIR R4 (un « Bundle »), le',
    '  format standard des dossiers de santé : un autre service de santé peut le lire.',
    '- compte.json : votre compte (identité, coordonnées, proches) et son historique.',
    '',
    'Ces fichiers contiennent des informations de santé : gardez-les en lieu sûr.',
    '',
  ].join('\r\n');
  return zipStored([
    ['carnet-export.json', JSON.stringify(bundle, null, 2)],
    ['compte.json', JSON.stringify(account, null, 2)],
    ['LISEZMOI.txt', readme],
  ]);
}

function accountJson(a, full) {
  const o = { id: a.id, kind: a.kind, status: a.status, display_name: displayName(a), given: a.given, family: a.family };
  if (a.kind === 'patient') Object.assign(o, { patient_id: a.patient_id, ins: a.ins, birth_date: a.birth_date });
  if (a.kind === 'professional') Object.assign(o, { rpps: a.rpps, profession: a.profession, specialty: a.specialty, organisation: a.organisation });
  if (a.login) o.login = a.login;
  if (full) {
    Object.assign(o, {
      email: a.email, email_verified: a.email_verified, phone: a.phone, phone_verified: a.phone_verified,
      second_factor: a.second_factor, totp_enabled: a.totp_enabled, created_at: a.created_at, activated_at: a.activated_at,
    });
  }
  return o;
}

function directoryJson(a) {
  return {
    id: a.id, rpps: a.rpps, display_name: displayName(a), profession: a.profession,
    profession_label: PROFESSIONS.find(([c]) => c === a.profession)?.[1] ?? a.profession,
    specialty: a.specialty, organisation: a.organisation,
  };
}

function operatorJson(a) {
  return {
    ...accountJson(a, false),
    email: a.email ? mask('email', a.email) : '', email_verified: a.email_verified,
    phone: a.phone ? mask('sms', a.phone) : '', phone_verified: a.phone_verified,
    second_factor: a.second_factor, created_at: a.created_at, activated_at: a.activated_at, closed_at: a.closed_at,
    locked_until: lockedUntil(a) || null,
  };
}

function loginsOf(a) {
  return [a.login, a.ins, a.rpps, a.email].filter(Boolean).map((s) => s.toLowerCase());
}

function lockedUntil(a) {
  let until = 0;
  for (const l of loginsOf(a)) until = Math.max(until, throttles.get(l)?.lockedUntil ?? 0);
  return until > nowUs() ? until : 0;
}

// ---- outbox: what the real server's file transport writes ----
const TEMPLATES = {
  login_code: ['Votre code de connexion Carnet', (c) => `Bonjour,\n\nVotre code de connexion à Carnet est : ${c}\n\nIl est valable 10 minutes et ne sert qu'une fois. Ne le communiquez à personne, pas même à un conseiller Carnet.\n\nSi vous n'avez pas demandé à vous connecter, ignorez ce message et changez votre mot de passe.`, (c) => `Carnet : votre code de connexion est ${c} (valable 10 min). Ne le communiquez a personne.`],
  contact_code: ['Confirmez votre adresse de contact Carnet', (c) => `Bonjour,\n\nPour confirmer cette adresse de contact dans Carnet, saisissez le code : ${c}\n\nIl est valable 10 minutes.\n\nSi vous n'êtes pas à l'origine de cette demande, ignorez ce message.`, (c) => `Carnet : code de confirmation ${c} (valable 10 min).`],
  reset_code: ['Réinitialisation de votre mot de passe Carnet', (c) => `Bonjour,\n\nUne réinitialisation du mot de passe de votre compte Carnet a été demandée. Votre code est : ${c}\n\nIl est valable 10 minutes. Si vous n'avez rien demandé, ignorez ce message : votre mot de passe ne change pas.`, (c) => `Carnet : code de reinitialisation ${c} (valable 10 min).`],
  activation_code: ['Activez votre espace Carnet', (c, url) => `Bonjour,\n\nVotre espace de santé Carnet a été créé. Pour l'activer, rendez-vous sur ${url}/activation et saisissez le code d'activation : ${c}\n\nVous pouvez aussi vous opposer à sa création depuis la même page, sans justification.`, (c, url) => `Carnet : votre code d'activation est ${c}. Rendez-vous sur ${url}/activation`],
  // As src/notify/templates.cpp words them.
  representative_invite: ['Invitation à gérer un espace Carnet', (c, url) => `Bonjour,\n\nVous êtes invité(e) à gérer, en tant que représentant légal, l'espace Carnet d'un enfant. Pour accepter, connectez-vous sur ${url} et saisissez le code : ${c}`, (c, url) => `Carnet : invitation de representant legal, code ${c}. ${url}`],
  caregiver_invite: ['Invitation à aider un proche dans Carnet', (c, url) => `Bonjour,\n\nUne personne vous a choisi(e) comme aidant(e) pour son espace Carnet. Pour accepter, connectez-vous sur ${url} et saisissez le code : ${c}\n\nSi vous ne connaissez pas cette demande, ignorez ce message.`, (c, url) => `Carnet : invitation a aider un proche, code ${c}. ${url}`],
  account_deleted: ['Suppression de votre espace Carnet', (_c, url) => `Bonjour,\n\nVotre demande de suppression de votre espace Carnet est enregistrée. Les données seront effacées définitivement à l'échéance prévue ; d'ici là, vous pouvez annuler depuis ${url}`, (_c, url) => `Carnet : suppression de votre espace enregistree. Annulation possible sur ${url}`],
  emergency_access: ['Votre dossier Carnet a été ouvert en urgence', (_c, url) => `Bonjour,\n\nUn professionnel de santé vient d'ouvrir votre dossier Carnet par un accès d'urgence. Le motif qu'il a donné et son nom figurent dans l'historique des accès : ${url}/patient/historique`, (_c, url) => `Carnet : votre dossier a ete ouvert en urgence. Historique : ${url}/patient/historique`],
  // Never what the message says nor from whom (docs/MESSAGING.md, "Notifications").
  new_message: ['Vous avez un nouveau message dans Carnet', (_c, url) => `Bonjour,\n\nVous avez reçu un nouveau message dans votre messagerie Carnet. Pour le lire, connectez-vous sur ${url}/patient/messagerie`, (_c, url) => `Carnet : vous avez un nouveau message. ${url}/patient/messagerie`],
  account_closed: ['Votre espace Carnet a été fermé', (_c, url) => `Bonjour,\n\nVotre espace Carnet a été fermé à votre demande. Toutes vos sessions et tous les accès accordés ont pris fin. Vous pouvez le rouvrir pendant la durée de conservation légale depuis ${url}`, () => 'Carnet : votre espace a ete ferme a votre demande.'],
};
const FOOTER = "\n\n--\nCe message automatique vous est envoyé par Carnet, votre espace de santé.\nNe répondez pas à ce message. Carnet ne vous demandera jamais votre mot de passe ni vos codes.";

function encodeHeader(text) {
  if (/^[\x00-\x7f]*$/.test(text)) return text;
  return `=?UTF-8?B?${Buffer.from(text, 'utf8').toString('base64')}?=`;
}

function deliver(channel, destination, template, code, purpose) {
  const [subject, mail, sms] = TEMPLATES[template];
  const url = `http://${HOST}:${PORT}`;
  const id = crypto.randomUUID();
  const stamp = new Date().toISOString().slice(0, 19).replace(/:/g, '-');
  fs.mkdirSync(OUTBOX, { recursive: true, mode: 0o700 });
  let file;
  if (channel === 'email') {
    const body = mail(code, url) + FOOTER;
    const text = [
      'From: Carnet <no-reply@carnet.localhost>',
      `To: <${destination}>`,
      `Subject: ${encodeHeader(subject)}`,
      `Date: ${new Date().toUTCString().replace(/GMT$/, '+0000')}`,
      `Message-ID: <${id}@carnet>`,
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=UTF-8',
      'Content-Transfer-Encoding: 8bit',
      'Auto-Submitted: auto-generated',
      '',
      body.replace(/\r?\n/g, '\r\n'),
      '',
    ].join('\r\n');
    file = path.join(OUTBOX, `${stamp}-${id}.eml`);
    fs.writeFileSync(`${file}.tmp`, text, { mode: 0o600 });
  } else {
    file = path.join(OUTBOX, `${stamp}-${id}.sms.txt`);
    fs.writeFileSync(`${file}.tmp`, `To: ${destination}\n\n${sms(code, url)}\n`, { mode: 0o600 });
  }
  fs.renameSync(`${file}.tmp`, file);
  if (!code) {
    console.log(`mock-server: ${purpose} notice → ${destination} (${path.basename(file)})`);
    return;
  }
  fs.writeFileSync(path.join(OUTBOX, 'last-code.txt'), `${code}\n`, { mode: 0o600 });
  console.log(`mock-server: ${purpose} code ${code} → ${destination} (${path.basename(file)})`);
}

// ---- challenges and sessions ----
const PURPOSE_TEMPLATE = { login: 'login_code', activation: 'contact_code', contact: 'contact_code', reset: 'reset_code', reauth: 'login_code' };

function issueChallenge(a, purpose, channel, destination, data = {}) {
  const c = {
    token: token(), accountId: a?.id, purpose, channel, destination,
    code: String(crypto.randomInt(1_000_000)).padStart(6, '0'),
    expires: nowUs() + CODE_TTL_US, tries: 0, sends: 0, dead: !a, data,
  };
  challenges.set(c.token, c);
  if (!c.dead && channel !== 'totp') {
    c.sends++;
    deliver(channel, destination, PURPOSE_TEMPLATE[purpose], c.code, purpose);
  }
  return { challenge: c.token, channel, to: channel === 'totp' ? '' : mask(channel, destination) };
}

/** The live challenge if `code` completes it; undefined otherwise (and the try is counted). */
function consume(tokenValue, purpose, code) {
  const c = challenges.get(String(tokenValue ?? ''));
  if (!c || c.purpose !== purpose || c.dead || c.expires < nowUs() || c.tries >= 5) return undefined;
  const a = accounts.get(c.accountId);
  const good = c.channel === 'totp' && purpose === 'login' ? totpOk(a?.totp_secret ?? '', String(code ?? '')) : String(code ?? '') === c.code;
  if (!good) {
    c.tries++;
    return undefined;
  }
  challenges.delete(c.token);
  return c;
}

function openSession(req, a, method, trustDevice) {
  const s = {
    token: token(), handle: token(9), accountId: a.id, csrf: token(24), createdAt: nowUs(), lastSeen: nowUs(),
    method, ip: req.socket.remoteAddress ?? '', ua: String(req.headers['user-agent'] ?? ''), authTime: nowUs(),
  };
  sessions.set(s.token, s);
  const cookies = [cookieLine(SESSION_COOKIE, s.token, '/')];
  if (trustDevice) {
    const d = {
      token: token(), handle: token(9), accountId: a.id, label: s.ua, createdAt: nowUs(), lastUsed: nowUs(),
      expiresAt: nowUs() + DEVICE_TTL_S * 1e6,
    };
    devices.set(d.token, d);
    cookies.push(cookieLine(DEVICE_COOKIE, d.token, '/auth', DEVICE_TTL_S));
  }
  return { body: { access_token: s.token, token_type: 'Bearer', expires_in: Math.floor(ABSOLUTE_US / 1e6), csrf_token: s.csrf }, cookies };
}

function cookieLine(name, value, cookiePath, maxAge) {
  let line = `${name}=${value}; HttpOnly; SameSite=Strict; Path=${cookiePath}`;
  if (maxAge !== undefined) line += `; Max-Age=${maxAge}`;
  return line;
}

function cookies(req) {
  const out = {};
  for (const part of String(req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

function endSessions(accountId, keepToken) {
  for (const [t, s] of sessions) if (s.accountId === accountId && t !== keepToken) sessions.delete(t);
}

/** { account, session, token } or { error: [status, OperationOutcome] } — with the CSRF rule. */
function authenticate(req) {
  const auth = String(req.headers.authorization ?? '');
  const bearer = auth.startsWith('Bearer ') ? auth.slice(7) : '';
  const t = bearer || cookies(req)[SESSION_COOKIE] || '';
  const s = t && sessions.get(t);
  const now = nowUs();
  if (!s || now - s.lastSeen > IDLE_US || now - s.createdAt > ABSOLUTE_US) {
    if (s) sessions.delete(t);
    return { error: outcome(401, 'login', 'authentification requise') };
  }
  const a = accounts.get(s.accountId);
  if (!a || !(a.status === 'active' || (a.status === 'closed' && a.kind === 'patient'))) {
    return { error: outcome(401, 'login', 'authentification requise') };
  }
  if (!bearer && !['GET', 'HEAD', 'OPTIONS'].includes(req.method) && req.headers['x-csrf-token'] !== s.csrf) {
    return { error: outcome(403, 'forbidden', 'jeton CSRF absent ou invalide (en-tête X-CSRF-Token)') };
  }
  s.lastSeen = now;
  return { account: a, session: s, token: t };
}

function invalid(message, expression) {
  const [status, body] = outcome(400, 'invalid', message);
  if (expression) body.issue[0].expression = [expression];
  return [status, body];
}

function tooMany(seconds, message = 'Trop de tentatives : réessayez plus tard.') {
  const [status, body] = outcome(429, 'throttled', message);
  return [status, body, { 'Retry-After': String(Math.max(1, Math.ceil(seconds))) }];
}

const unauthorized = (m = 'Code incorrect ou expiré.') => outcome(401, 'login', m);
const forbidden = (m) => outcome(403, 'forbidden', m);
const needsReauth = () => forbidden('confirmez votre identité (mot de passe et code) avant cette action');

/** Password and code confirmed lately (login or POST /auth/reauth/confirm). */
function recentlyAuthenticated(s) {
  return nowUs() - s.authTime <= REAUTH_US;
}

// ---- the routes ----
function readBody(req) {
  return new Promise((resolve) => {
    let size = 0;
    const chunks = [];
    req.on('data', (c) => {
      size += c.length;
      if (size <= 65536) chunks.push(c);
    });
    req.on('end', () => {
      if (size > 65536) return resolve({ tooLarge: true });
      const text = Buffer.concat(chunks).toString('utf8');
      if (!text) return resolve({ value: {} });
      try {
        const value = JSON.parse(text);
        resolve(value && typeof value === 'object' && !Array.isArray(value) ? { value } : { bad: true });
      } catch {
        resolve({ bad: true });
      }
    });
  });
}

async function identity(req, res, url) {
  let result;
  try {
    const body = ['POST', 'PUT', 'PATCH'].includes(req.method) ? await readBody(req) : { value: {} };
    if (body.tooLarge) result = outcome(413, 'too-costly', 'corps de requête trop volumineux');
    else if (body.bad) result = invalid('corps JSON invalide');
    else result = route(req, url, body.value);
  } catch (err) {
    console.error('mock-server:', err);
    result = outcome(500, 'exception', 'erreur interne du serveur');
  }
  const [status, payload, headers = {}] = result;
  if (process.env.MOCK_LOG) console.log(req.method, url.pathname, status);
  const extra = { 'Cache-Control': 'no-store', ...headers };
  if (Buffer.isBuffer(payload)) {
    const { 'Content-Type': type = 'application/octet-stream', ...rest } = extra;
    send(res, status, type, req.method === 'HEAD' ? '' : payload, { ...rest, 'Content-Length': String(payload.length) });
    return;
  }
  if (status === 204 || payload === undefined) {
    res.writeHead(status, { 'Content-Security-Policy': CSP, 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer', ...extra });
    res.end();
    return;
  }
  const type = payload?.resourceType === 'OperationOutcome' ? FHIR_JSON : 'application/json; charset=utf-8';
  send(res, status, type, JSON.stringify(payload), extra);
}

function noContent(headers) {
  return [204, undefined, headers];
}

function json(status, body, headers) {
  return [status, body, headers];
}

function withCookies(result, cookieLines) {
  const [status, body, headers = {}] = result;
  return [status, body, { ...headers, 'Set-Cookie': cookieLines }];
}

function route(req, url, b) {
  const p = url.pathname.replace(/\/+$/, '');
  const m = req.method;
  const str = (k) => (typeof b[k] === 'string' ? b[k] : '');

  // ---- public ----
  if (m === 'POST' && p === '/auth/login') {
    const login = str('login').trim();
    const key = login.toLowerCase();
    const t = throttles.get(key);
    if (t && t.lockedUntil > nowUs()) return tooMany((t.lockedUntil - nowUs()) / 1e6);
    const a = findByLogin(login);
    const ok = a && a.password && a.password === str('password') && (a.status === 'active' || (a.status === 'closed' && a.kind === 'patient'));
    if (!ok) {
      const th = throttles.get(key) ?? { failures: 0, lockedUntil: 0 };
      th.failures++;
      throttles.set(key, th);
      if (th.failures >= 5) {
        const wait = Math.min(60 * 2 ** (th.failures - 5), 900);
        th.lockedUntil = nowUs() + wait * 1e6;
        return tooMany(wait);
      }
      // The same shape as a real challenge; no code will ever complete it.
      const channel = a?.second_factor === 'sms' ? 'sms' : 'email';
      const dest = a ? (channel === 'sms' ? a.phone : a.email) : normalizeEmail(login) ?? 'x@carnet.invalid';
      return json(200, issueChallenge(undefined, 'login', channel, dest));
    }
    throttles.delete(key);
    const device = devices.get(cookies(req)[DEVICE_COOKIE] ?? '');
    if (device && device.accountId === a.id && device.expiresAt > nowUs()) {
      device.lastUsed = nowUs();
      record(a, a.kind, 'login', 'appareil de confiance');
      const s = openSession(req, a, 'password+trusted-device', false);
      return withCookies(json(200, { ...s.body, channel: 'trusted-device' }), s.cookies);
    }
    if (a.totp_enabled && a.second_factor === 'totp') return json(200, issueChallenge(a, 'login', 'totp', ''));
    const channel = a.second_factor === 'sms' && a.phone_verified ? 'sms' : 'email';
    return json(200, issueChallenge(a, 'login', channel, channel === 'sms' ? a.phone : a.email));
  }
  if (m === 'POST' && p === '/auth/verify') {
    const c = consume(str('challenge'), 'login', str('code'));
    const a = c && accounts.get(c.accountId);
    if (!a) return unauthorized();
    record(a, a.kind, 'login', c.channel === 'totp' ? 'application' : c.channel === 'sms' ? 'code par SMS' : 'code par e-mail');
    const s = openSession(req, a, `password+${c.channel}`, b.trust_device === true);
    return withCookies(json(200, s.body), s.cookies);
  }
  if (m === 'POST' && p === '/auth/resend') {
    const c = challenges.get(str('challenge'));
    if (!c || c.dead || c.channel === 'totp') return noContent(); // nothing to tell
    if (c.expires < nowUs()) return unauthorized();
    if (c.sends >= 5) return tooMany(600, "Trop d'envois de code : réessayez plus tard.");
    c.sends++;
    c.expires = nowUs() + CODE_TTL_US;
    deliver(c.channel, c.destination, PURPOSE_TEMPLATE[c.purpose], c.code, `${c.purpose} (renvoi)`);
    return noContent();
  }
  if (m === 'POST' && p === '/auth/logout') {
    const t = String(req.headers.authorization ?? '').replace(/^Bearer /, '') || cookies(req)[SESSION_COOKIE] || '';
    const s = sessions.get(t);
    if (s && !req.headers.authorization && req.headers['x-csrf-token'] !== s.csrf) {
      return outcome(403, 'forbidden', 'jeton CSRF absent ou invalide (en-tête X-CSRF-Token)');
    }
    sessions.delete(t);
    return noContent({ 'Set-Cookie': cookieLine(SESSION_COOKIE, '', '/', 0) });
  }
  if (m === 'POST' && p === '/auth/activate') {
    const a = findByLogin(str('login'));
    const code = normalizeActivationCode(str('activation_code'));
    if (!a || a.status !== 'pending' || !a.activation_code || a.activation_tries >= 5 || normalizeActivationCode(a.activation_code) !== code) {
      if (a && a.status === 'pending') a.activation_tries++;
      return unauthorized("Identifiant ou code d'activation incorrect.");
    }
    const problem = passwordProblem(str('password'), a.login);
    if (problem) return invalid(problem, 'password');
    const channel = str('channel') === 'sms' ? 'sms' : 'email';
    const address = channel === 'sms' ? normalizePhone(str('address')) : normalizeEmail(str('address'));
    if (!address) return invalid(channel === 'sms' ? 'numéro de téléphone invalide' : 'adresse e-mail invalide', 'address');
    return json(200, issueChallenge(a, 'activation', channel, address, { password: str('password'), channel, address }));
  }
  if (m === 'POST' && p === '/auth/activate/confirm') {
    const c = consume(str('challenge'), 'activation', str('code'));
    const a = c && accounts.get(c.accountId);
    if (!a || a.status !== 'pending') return unauthorized();
    Object.assign(a, { status: 'active', password: c.data.password, activation_code: '', activated_at: nowUs(), second_factor: c.data.channel });
    if (c.data.channel === 'sms') Object.assign(a, { phone: c.data.address, phone_verified: true });
    else Object.assign(a, { email: c.data.address, email_verified: true });
    if (!a.login && a.kind === 'patient' && c.data.channel === 'email') a.login = c.data.address;
    record(a, a.kind, 'activation', c.data.channel === 'sms' ? 'SMS' : 'e-mail');
    const s = openSession(req, a, `password+${c.data.channel}`, false);
    return withCookies(json(200, s.body), s.cookies);
  }
  if (m === 'POST' && p === '/auth/oppose') {
    const a = findByLogin(str('login'));
    if (!a || a.status !== 'pending' || a.activation_tries >= 5 || normalizeActivationCode(a.activation_code) !== normalizeActivationCode(str('activation_code'))) {
      if (a && a.status === 'pending') a.activation_tries++;
      return unauthorized("Identifiant ou code d'activation incorrect.");
    }
    Object.assign(a, { status: 'opposed', activation_code: '', patient_id: '' });
    record(a, a.kind, 'opposition');
    return noContent();
  }
  if (m === 'POST' && p === '/auth/reset') {
    const a = findByLogin(str('login'));
    if (a && a.status === 'active' && (a.email_verified || a.phone_verified)) {
      const channel = a.second_factor === 'sms' && a.phone_verified ? 'sms' : a.email_verified ? 'email' : 'sms';
      return json(200, issueChallenge(a, 'reset', channel, channel === 'sms' ? a.phone : a.email));
    }
    return json(200, issueChallenge(undefined, 'reset', 'email', normalizeEmail(str('login')) ?? 'x@carnet.invalid'));
  }
  if (m === 'POST' && p === '/auth/reset/confirm') {
    const ch = challenges.get(str('challenge'));
    const a = ch && accounts.get(ch.accountId);
    // The password is checked before the code is spent, so a weak one can be corrected.
    const problem = passwordProblem(str('password'), a?.login);
    if (problem && ch && !ch.dead && ch.code === str('code')) return invalid(problem, 'password');
    const c = consume(str('challenge'), 'reset', str('code'));
    if (!c || !a) return unauthorized();
    a.password = str('password');
    endSessions(a.id);
    for (const [t, d] of devices) if (d.accountId === a.id) devices.delete(t);
    for (const l of loginsOf(a)) throttles.delete(l);
    record(a, a.kind, 'password.reset');
    return noContent();
  }

  if (m === 'POST' && p === '/auth/certificate') {
    // The mock has no TLS listener, so never a card (src/api/auth_routes.cpp says the same).
    return outcome(401, 'login', 'aucune carte présentée (connexion TLS avec certificat)');
  }

  // ---- signed in ----
  const who = authenticate(req);
  if (who.error) return who.error;
  const a = who.account;
  const s = who.session;

  if (m === 'GET' && p === '/auth/session') {
    return json(200, {
      account: accountJson(a, false), csrf_token: s.csrf, method: s.method, auth_time: s.authTime,
      recently_authenticated: recentlyAuthenticated(s), records: recordsOf(a),
    });
  }
  if (m === 'GET' && p === '/auth/me') return json(200, accountJson(a, true));
  if (m === 'POST' && p === '/auth/me/password') {
    if (str('current') !== a.password) return unauthorized('Mot de passe actuel incorrect.');
    const problem = passwordProblem(str('password'), a.login);
    if (problem) return invalid(problem, 'password');
    a.password = str('password');
    endSessions(a.id, who.token);
    record(a, a.kind, 'password.change');
    return noContent();
  }
  if (m === 'POST' && p === '/auth/me/contact') {
    const channel = str('channel') === 'sms' ? 'sms' : 'email';
    const address = channel === 'sms' ? normalizePhone(str('address')) : normalizeEmail(str('address'));
    if (!address) return invalid(channel === 'sms' ? 'numéro de téléphone invalide' : 'adresse e-mail invalide', 'address');
    return json(200, issueChallenge(a, 'contact', channel, address, { channel, address }));
  }
  if (m === 'POST' && p === '/auth/me/contact/confirm') {
    const c = consume(str('challenge'), 'contact', str('code'));
    if (!c || c.accountId !== a.id) return unauthorized();
    if (c.data.channel === 'sms') Object.assign(a, { phone: c.data.address, phone_verified: true });
    else Object.assign(a, { email: c.data.address, email_verified: true });
    record(a, a.kind, c.data.channel === 'sms' ? 'contact.phone' : 'contact.email');
    return noContent();
  }
  if (m === 'POST' && p === '/auth/me/second-factor') {
    const channel = str('channel');
    if (channel !== 'email' && channel !== 'sms') return invalid('canal inconnu', 'channel');
    if (channel === 'email' ? !a.email_verified : !a.phone_verified) {
      return invalid("Confirmez d'abord cette adresse de contact.", 'channel');
    }
    a.second_factor = channel;
    record(a, a.kind, `second-factor.${channel}`);
    return noContent();
  }
  if (m === 'POST' && p === '/auth/me/totp') {
    a.totp_pending = base32Encode(crypto.randomBytes(20));
    const label = encodeURIComponent(`Carnet:${a.login || a.email || a.id}`);
    return json(200, { secret: a.totp_pending, otpauth_uri: `otpauth://totp/${label}?secret=${a.totp_pending}&issuer=Carnet&algorithm=SHA1&digits=6&period=30` });
  }
  if (m === 'POST' && p === '/auth/me/totp/confirm') {
    if (!a.totp_pending || !totpOk(a.totp_pending, str('code'))) return unauthorized();
    Object.assign(a, { totp_secret: a.totp_pending, totp_pending: '', totp_enabled: true, second_factor: 'totp' });
    record(a, a.kind, 'second-factor.totp');
    return noContent();
  }
  if (m === 'POST' && p === '/auth/me/totp/disable') {
    if (str('password') !== a.password) return unauthorized('Mot de passe incorrect.');
    const fallback = a.email_verified ? 'email' : 'sms';
    Object.assign(a, { totp_enabled: false, totp_secret: '', second_factor: fallback });
    record(a, a.kind, `second-factor.${fallback}`);
    return noContent();
  }
  if (m === 'GET' && p === '/auth/me/sessions') {
    const list = [...sessions.entries()]
      .filter(([, x]) => x.accountId === a.id)
      .map(([t, x]) => ({
        handle: x.handle, method: x.method, ip: x.ip, user_agent: x.ua, created_at: x.createdAt,
        last_seen_at: x.lastSeen, expires_at: x.createdAt + ABSOLUTE_US, current: t === who.token,
      }));
    return json(200, list);
  }
  let mm = /^\/auth\/me\/sessions\/([^/]+)$/.exec(p);
  if (m === 'DELETE' && mm) {
    for (const [t, x] of sessions) if (x.accountId === a.id && x.handle === decodeURIComponent(mm[1])) sessions.delete(t);
    return noContent();
  }
  if (m === 'GET' && p === '/auth/me/devices') {
    const list = [...devices.values()]
      .filter((d) => d.accountId === a.id && d.expiresAt > nowUs())
      .map((d) => ({ handle: d.handle, label: d.label, created_at: d.createdAt, last_used_at: d.lastUsed, expires_at: d.expiresAt }));
    return json(200, list);
  }
  mm = /^\/auth\/me\/devices\/([^/]+)$/.exec(p);
  if (m === 'DELETE' && mm) {
    for (const [t, d] of devices) if (d.accountId === a.id && d.handle === decodeURIComponent(mm[1])) devices.delete(t);
    return noContent();
  }
  if (m === 'GET' && p === '/auth/me/history') {
    return json(200, [...(events.get(a.id) ?? [])].sort((x, y) => y.at - x.at));
  }
  if (m === 'POST' && p === '/auth/reauth') {
    if (str('password') !== a.password) return unauthorized('Mot de passe incorrect.');
    const channel = a.second_factor === 'sms' && a.phone_verified ? 'sms' : 'email';
    return json(200, issueChallenge(a, 'reauth', channel, channel === 'sms' ? a.phone : a.email));
  }
  if (m === 'POST' && p === '/auth/reauth/confirm') {
    const c = consume(str('challenge'), 'reauth', str('code'));
    if (!c || c.accountId !== a.id) return unauthorized();
    s.authTime = nowUs();
    return noContent();
  }

  // ---- records, representatives and caregivers ----
  if (m === 'GET' && p === '/auth/records') return json(200, recordsOf(a));
  mm = /^\/auth\/records\/([^/]+)\/delegations(?:\/([^/]+))?$/.exec(p);
  if (mm) {
    const pid = decodeURIComponent(mm[1]);
    const rec = recordFor(a, pid);
    const holder = [...accounts.values()].find((x) => x.kind === 'patient' && x.patient_id === pid);
    if (m === 'GET' && !mm[2]) {
      if (!rec) return forbidden("vous n'avez pas accès à ce dossier");
      if (rec.relation === 'caregiver') return forbidden('un aidant ne gère pas les délégations');
      const list = [...delegations.values()].filter((d) => d.patient_id === pid && liveDelegation(d)).sort((x, y) => x.created_at - y.created_at);
      return json(200, list.map(delegationJson));
    }
    if (m === 'POST' && !mm[2]) {
      const kind = str('kind');
      if (kind !== 'representative' && kind !== 'caregiver') return invalid('type de délégation inconnu', 'kind');
      if (!rec) return forbidden("vous n'avez pas accès à ce dossier");
      if (kind === 'representative' && rec.relation !== 'representative') return forbidden('seul un représentant légal peut inviter le second représentant');
      if (kind === 'caregiver' && rec.relation !== 'self') return forbidden('seule la personne elle-même choisit ses aidants');
      const to = findByLogin(str('login'));
      if (!to || to.kind !== 'patient' || to.status !== 'active' || (!to.email_verified && !to.phone_verified)) {
        return outcome(404, 'not-found', "aucun compte actif avec cet identifiant : la personne doit d'abord activer son propre espace");
      }
      if (to.id === holder?.id || to.id === a.id) return invalid('vous ne pouvez pas vous inviter vous-même');
      const live = [...delegations.values()].filter((d) => d.patient_id === pid && liveDelegation(d));
      if (live.some((d) => d.delegate === to.id)) return outcome(409, 'duplicate', 'cette personne est déjà invitée');
      if (kind === 'caregiver' && live.filter((d) => d.kind === 'caregiver').length >= MAX_CAREGIVERS) {
        return outcome(422, 'business-rule', "trois aidants au plus : retirez-en un avant d'en inviter un autre");
      }
      const d = {
        id: `del-${crypto.randomUUID()}`, patient_id: pid, patientAccount: holder?.id ?? '', delegate: to.id, kind,
        status: 'invited', code: newActivationCode(), expires: nowUs() + INVITE_TTL_US, created_at: nowUs(), accepted_at: 0,
      };
      delegations.set(d.id, d);
      const byMail = to.email_verified;
      deliver(byMail ? 'email' : 'sms', byMail ? to.email : to.phone, `${kind}_invite`, d.code, `${kind} invitation`);
      if (holder) record(holder, a.kind, `${kind}.invited`);
      return json(201, delegationJson(d));
    }
    if (m === 'DELETE' && mm[2]) {
      const d = delegations.get(decodeURIComponent(mm[2]));
      if (!d || d.patient_id !== pid || d.status === 'ended') return outcome(404, 'not-found', 'délégation inconnue');
      // The delegate may leave; otherwise the person or a representative ends it.
      if (d.delegate !== a.id) {
        if (!rec) return forbidden("vous n'avez pas accès à ce dossier");
        if (rec.relation === 'caregiver') return forbidden('un aidant ne gère pas les délégations');
      }
      Object.assign(d, { status: 'ended', code: '', ended_at: nowUs() });
      if (holder) record(holder, a.kind, `${d.kind}.ended`);
      return noContent();
    }
  }
  if (m === 'POST' && p === '/auth/invitations/accept') {
    const code = normalizeActivationCode(str('code'));
    // Bound to the invitee: someone else holding the code gets the same answer as a wrong code.
    const d = code && [...delegations.values()].find((x) => x.status === 'invited' && x.code && normalizeActivationCode(x.code) === code);
    if (!d || d.delegate !== a.id || d.expires <= nowUs()) return outcome(404, 'not-found', "code d'invitation invalide ou expiré");
    Object.assign(d, { status: 'active', accepted_at: nowUs(), code: '' });
    const holder = accounts.get(d.patientAccount);
    if (holder) record(holder, a.kind, `${d.kind}.accepted`, displayName(a));
    const reached = recordFor(a, d.patient_id);
    return json(200, reached ?? { patient_id: d.patient_id, display_name: holder ? displayName(holder) : '', relation: d.kind, status: holder?.status ?? '' });
  }

  // ---- the holder's space: close, delete, reopen, export (after a recent identity check) ----
  if (m === 'POST' && (p === '/auth/me/close' || p === '/auth/me/delete')) {
    const deleting = p === '/auth/me/delete';
    if (a.kind !== 'patient') return forbidden(deleting ? 'seul le titulaire supprime son espace' : 'seul le titulaire ferme son espace');
    if (!recentlyAuthenticated(s)) return needsReauth();
    if (a.status !== 'active' && a.status !== 'closed') return outcome(422, 'business-rule', "ce compte n'est pas ouvert");
    const now = nowUs();
    Object.assign(a, { status: 'closed', closed_at: a.closed_at || now, purge_at: now + (deleting ? 90 : 3652) * 24 * 3600 * 1e6 });
    // Every session, device and code of the person ends, and every delegation of the record and by the person.
    endSessions(a.id);
    for (const [t, d] of devices) if (d.accountId === a.id) devices.delete(t);
    for (const [t, c] of challenges) if (c.accountId === a.id) challenges.delete(t);
    endDelegations((d) => d.patient_id === a.patient_id || d.delegate === a.id);
    record(a, a.kind, deleting ? 'account.deletion-requested' : 'account.closed');
    const to = a.email_verified ? ['email', a.email] : a.phone_verified ? ['sms', a.phone] : undefined;
    if (to) deliver(to[0], to[1], deleting ? 'account_deleted' : 'account_closed', '', deleting ? 'deletion' : 'closure');
    return noContent({ 'Set-Cookie': cookieLine(SESSION_COOKIE, '', '/', 0) });
  }
  if (m === 'POST' && p === '/auth/me/reopen') {
    if (a.kind !== 'patient') return forbidden('seul le titulaire rouvre son espace');
    if (!recentlyAuthenticated(s)) return needsReauth();
    if (a.status !== 'closed') return outcome(422, 'business-rule', "cet espace n'est pas fermé, ou ses données ont été effacées");
    Object.assign(a, { status: 'active', closed_at: 0, purge_at: 0 });
    record(a, a.kind, 'account.reopened');
    return noContent();
  }
  if (m === 'GET' && p === '/auth/me/export') {
    if (a.kind !== 'patient' || !a.patient_id) return forbidden("seul le titulaire d'un dossier exporte ses données");
    if (!recentlyAuthenticated(s)) return needsReauth();
    record(a, a.kind, 'account.exported');
    return [200, exportArchive(a), {
      'Content-Type': 'application/zip',
      'Content-Disposition': 'attachment; filename="carnet-export.zip"',
    }];
  }

  // ---- directory: any signed-in person ----
  if (m === 'GET' && p === '/directory/professions') {
    return json(200, PROFESSIONS.map(([code, label]) => ({ code, label })));
  }
  if (m === 'GET' && p === '/directory/professionals') {
    const q = fold(url.searchParams.get('q') ?? '').trim();
    const profession = url.searchParams.get('profession') ?? '';
    const list = [...accounts.values()].filter((x) =>
      x.kind === 'professional' && x.status !== 'deleted' &&
      (!profession || x.profession === profession) &&
      (!q || x.rpps.startsWith(q) || [x.given, x.family, `${x.given} ${x.family}`, `${x.family} ${x.given}`].some((n) => fold(n).startsWith(q))),
    );
    list.sort((x, y) => fold(x.family).localeCompare(fold(y.family)));
    return json(200, list.slice(0, 50).map(directoryJson));
  }

  // ---- operators ----
  if (p.startsWith('/admin/')) {
    const isOperator = a.kind === 'advisor' || a.kind === 'admin';
    const adminOnly = p === '/admin/professionals' || p === '/admin/staff';
    if (adminOnly ? a.kind !== 'admin' : !isOperator) {
      return outcome(403, 'forbidden', adminOnly ? 'réservé aux administrateurs' : 'réservé aux conseillers et administrateurs');
    }
  }
  if (m === 'GET' && p === '/admin/accounts') {
    const q = fold(url.searchParams.get('q') ?? '').replace(/\s/g, '');
    const kind = url.searchParams.get('kind') ?? '';
    const list = [...accounts.values()].filter((x) =>
      (!kind || x.kind === kind) &&
      (!q || [x.given, x.family, `${x.given}${x.family}`, `${x.family}${x.given}`, x.ins, x.rpps, x.login].some((n) => n && fold(n).replace(/\s/g, '').startsWith(q))),
    );
    list.sort((x, y) => fold(x.family).localeCompare(fold(y.family)));
    return json(200, list.slice(0, 50).map(operatorJson));
  }
  mm = /^\/admin\/accounts\/([^/]+)(?:\/(resend-activation|unlock))?$/.exec(p);
  if (mm) {
    const target = accounts.get(decodeURIComponent(mm[1]));
    if (!target) return outcome(404, 'not-found', 'compte introuvable');
    if (m === 'GET' && !mm[2]) {
      return json(200, { ...operatorJson(target), history: [...(events.get(target.id) ?? [])].sort((x, y) => y.at - x.at).slice(0, 50) });
    }
    if (m === 'POST' && mm[2] === 'resend-activation') {
      if (target.status !== 'pending') return invalid("Ce compte est déjà activé : il n'a pas besoin de code d'activation.");
      target.activation_code = newActivationCode();
      target.activation_tries = 0;
      const dest = target.email || target.phone;
      if (dest) deliver(target.email ? 'email' : 'sms', dest, 'activation_code', target.activation_code, 'activation');
      else console.log(`mock-server: new activation code for ${target.id}: ${target.activation_code} (no contact: printed for the letter)`);
      record(target, a.kind, 'operator.resend-activation', displayName(a));
      return noContent();
    }
    if (m === 'POST' && mm[2] === 'unlock') {
      for (const l of loginsOf(target)) throttles.delete(l);
      for (const [t, c] of challenges) if (c.accountId === target.id) challenges.delete(t);
      record(target, a.kind, 'operator.unlock', displayName(a));
      return noContent();
    }
  }
  if (m === 'POST' && p === '/admin/professionals') {
    const rpps = str('rpps').replace(/\s/g, '');
    if (!isValidRpps(rpps)) return invalid('numéro RPPS invalide', 'rpps');
    if (!PROFESSIONS.some(([c]) => c === str('profession'))) return invalid(`profession inconnue: ${str('profession').slice(0, 40)}`, 'profession');
    if (!str('family').trim()) return invalid('le nom de famille est requis', 'family');
    const email = str('email') ? normalizeEmail(str('email')) : '';
    if (email === undefined) return invalid('adresse e-mail invalide', 'email');
    const existing = [...accounts.values()].find((x) => x.rpps === rpps);
    if (existing) return json(200, { account: directoryJson(existing), existed: true });
    const created = addAccount({
      kind: 'professional', status: 'pending', rpps, given: str('given').trim(), family: str('family').trim(),
      profession: str('profession'), specialty: str('specialty').trim(), organisation: str('organisation').trim(),
      email: email ?? '', activation_code: newActivationCode(), created_at: nowUs(),
    });
    record(created, 'admin', 'account.created');
    if (created.email) deliver('email', created.email, 'activation_code', created.activation_code, 'activation');
    return json(201, { account: directoryJson(created), existed: false });
  }
  if (m === 'POST' && p === '/admin/staff') {
    const kind = str('kind');
    if (kind !== 'advisor' && kind !== 'admin') return invalid('rôle inconnu', 'kind');
    const login = str('login').trim().toLowerCase();
    if (!/^[a-z0-9._-]{3,64}$/.test(login)) return invalid("nom d'utilisateur invalide", 'login');
    const email = str('email') ? normalizeEmail(str('email')) : '';
    if (email === undefined) return invalid('adresse e-mail invalide', 'email');
    const existing = [...accounts.values()].find((x) => x.login === login);
    if (existing) return json(200, { account: operatorJson(existing), existed: true });
    const created = addAccount({
      kind, status: 'pending', login, given: str('given').trim(), family: str('family').trim(), email: email ?? '',
      activation_code: newActivationCode(), created_at: nowUs(),
    });
    record(created, 'admin', 'account.created');
    return json(201, { account: operatorJson(created), existed: false, activation_code: created.activation_code });
  }

  // ---- access: the holder's controls, codes, emergency access, the log, the grid ----
  if (p === '/access' || p.startsWith('/access/')) return accessRoute(req, url, b, a, s);

  // ---- secure messaging (docs/MESSAGING.md) ----
  if (p === '/messages' || p.startsWith('/messages/')) return messageRoute(req, url, b, a);

  return outcome(404, 'not-found', `${m} ${p} n'existe pas`);
}

// ---------- Access: /access (docs/ACCESS-API.md) ----------
// The holder's controls, professionals' codes and emergency access, the access log and the
// grid, in memory. The decision is a small copy of access::Decide's order (blocked, emergency
// grant, emergency-only mode, roles, authorisation); professionals' FHIR reads go through it
// too, and are logged (grouped per minute, as a person would read them).
const ACCESS_SETTINGS = { etreat: true, btg: true, emergency_masked: false, emergency_only: false, mask_new: false, notify_email: true, notify_sms: false };
const SINGLE_ROLES = ['medecin-traitant', 'sage-femme-referente', 'pharmacien-correspondant'];
const ROLES = [...SINGLE_ROLES, 'administrator'];
const CODE_TTL = 24 * 3600 * 1e6;
const EMERGENCY_US = 24 * 3600 * 1e6;
const GRID_COLUMNS = ['10', '11', '31', '42', '43', '44', '45', '52', '60', '90', '95', 'conditions', 'allergies', 'treatments', 'immunizations', 'measurements'];
/** pid → settings */
const accessSettings = new Map();
/** `${pid}|${account}` → { pid, account, status, roles, via_code } */
const relations = new Map();
/** id → { id, pid, code, created_at, expires_at, status, tries, used_by } */
const accessCodes = new Map();
/** `${pid}|${type}/${id}` → true when masked */
const maskedDocs = new Set();
/** [{ seq, pid, at, actor, actor_name, actor_kind, actor_profession, action, resource_type, resource_id, category, basis, outcome, reason, purpose, emergency, count }] */
const accessLog = [];
/** [{ id, pid, account, kind, reason, opened_at, until }] */
const grants = [];
/** [{ version, created_at, created_by, professions }] */
const gridVersions = [];
let logSeq = 0;

function loadDefaultGrid() {
  try {
    const text = fs.readFileSync(path.join(repo, 'src', 'access', 'default_grid.json'), 'utf8');
    return JSON.parse(text).professions;
  } catch {
    // Without the repository's file: every profession sees everything (a mock).
    return Object.fromEntries(PROFESSIONS.map(([code]) => [code, Object.fromEntries(GRID_COLUMNS.map((c) => [c, 'Y']))]));
  }
}

const settingsOf = (pid) => accessSettings.get(pid) ?? { ...ACCESS_SETTINGS };
const relationOf = (pid, account) => relations.get(`${pid}|${account}`);
const holderOf = (pid) => [...accounts.values()].find((x) => x.kind === 'patient' && x.patient_id === pid);
const recordExists = (pid) => store.get('Patient').has(pid);
const liveGrant = (pid, account) => grants.filter((g) => g.pid === pid && g.account === account && g.until > nowUs()).sort((x, y) => y.until - x.until)[0];

function setRelation(pid, account, change) {
  const key = `${pid}|${account}`;
  const r = relations.get(key) ?? { pid, account, status: 'known', roles: [], via_code: false };
  Object.assign(r, change);
  relations.set(key, r);
  return r;
}

/** A professional's access to a record: { allow, basis, reason, emergency, seesMasked }. */
function decide(a, pid) {
  if (a.kind !== 'professional') return { allow: false, basis: 'none', reason: 'not-permitted' };
  const settings = settingsOf(pid);
  const rel = relationOf(pid, a.id);
  if (rel?.status === 'blocked') return { allow: false, basis: 'none', reason: 'blocked' };
  const grant = liveGrant(pid, a.id);
  if (grant) return { allow: true, basis: grant.kind, emergency: true, until: grant.until, seesMasked: settings.emergency_masked };
  if (settings.emergency_only) return { allow: false, basis: 'none', reason: 'emergency-only' };
  const roles = rel?.roles ?? [];
  const seesMasked = roles.includes('medecin-traitant') || roles.includes('administrator');
  if (roles.includes('medecin-traitant')) return { allow: true, basis: 'medecin-traitant', seesMasked };
  if (roles.length) return { allow: true, basis: 'designated', seesMasked };
  if (rel?.status === 'authorised') return { allow: true, basis: rel.via_code ? 'code' : 'authorised', seesMasked };
  return { allow: false, basis: 'none', reason: 'no-basis' };
}

const CATEGORY_OF_TYPE = { Patient: 'record', Observation: 'measurements', Condition: 'conditions', Immunization: 'immunizations', MedicationRequest: 'treatments', Encounter: '10', DocumentReference: '10', DiagnosticReport: '10', Procedure: '10', AllergyIntolerance: 'allergies', MedicationStatement: 'treatments', MedicationDispense: 'treatments', FamilyMemberHistory: 'conditions', Consent: 'record', RelatedPerson: 'record' };

/** One log entry; reads of the same kind by the same person within a minute count as one. */
function logAccess(pid, a, action, fields = {}) {
  const at = nowUs();
  const entry = {
    pid, at, actor: a?.id ?? '', actor_name: a ? displayName(a) : 'Carnet', actor_kind: a?.kind ?? 'system',
    actor_profession: a?.profession ?? '', action, resource_type: '', resource_id: '', category: 'record',
    basis: 'none', outcome: 'allow', reason: 'allowed', purpose: 'TREAT', emergency: false, count: 1, ...fields,
  };
  const last = accessLog.at(-1);
  if ((action === 'read' || action === 'search') && last && last.pid === pid && last.actor === entry.actor && last.action === action &&
      last.category === entry.category && last.outcome === entry.outcome && at - last.at < 60e6) {
    last.count++;
    return last;
  }
  entry.seq = ++logSeq;
  accessLog.push(entry);
  return entry;
}

function logJson(e) {
  const { pid, actor: _actor, ...rest } = e;
  return { patient_id: pid, ...rest };
}

function professionalJson(pid, account, rel) {
  const pro = accounts.get(account);
  const last = accessLog.filter((e) => e.pid === pid && e.actor === account && e.outcome === 'allow').at(-1);
  return {
    account_id: account, name: pro ? displayName(pro) : account, profession: pro?.profession ?? '',
    profession_label: PROFESSIONS.find(([c]) => c === pro?.profession)?.[1] ?? '', specialty: pro?.specialty ?? '', rpps: pro?.rpps ?? '',
    status: rel?.status ?? 'known', roles: rel?.roles ?? [], via_code: !!rel?.via_code, last_access_at: last?.at ?? null,
  };
}

function documentsOf(pid) {
  return [...store.get('DocumentReference').values()].filter((r) => patientOf(r) === pid);
}

/** Who deposited each document through the portal (DocumentReference id → { author, kind }). */
const docAuthors = new Map();
/** Documents' content deposited through the portal: Binary id → { pid, doc, contentType, bytes }. */
const binaries = new Map();
/** The DMP class of a deposit type (src/access/document_classes.json); the patient's are 90. */
const DOC_CLASS = { '11488-4': '10', '57833-6': '42', '11502-2': '10', '18748-4': '31', '51851-4': '10' };
function docCategory(r) {
  if (docAuthors.get(r.id)?.kind === 'patient') return '90';
  return DOC_CLASS[r.type?.coding?.[0]?.code] ?? '10';
}
function replacedIdOf(r) {
  const ref = (r.relatesTo ?? []).find((x) => x?.code === 'replaces')?.target?.reference ?? '';
  const m = /^DocumentReference\/([A-Za-z0-9.-]{1,64})(?:\/_history\/.*)?$/.exec(ref);
  return m ? m[1] : '';
}

function documentJson(pid, r, a) {
  const att = r.content?.[0]?.attachment ?? {};
  const binary = /^Binary\/(.+)$/.exec(att.url ?? '')?.[1] ?? '';
  const author = docAuthors.get(r.id);
  return {
    type: 'DocumentReference', id: r.id, date: r.date ?? '', title: r.description || r.type?.text || r.type?.coding?.[0]?.display || '',
    category: docCategory(r), masked: maskedDocs.has(`${pid}|DocumentReference/${r.id}`), hidden_until: 0,
    author_name: author ? displayName(accounts.get(author.author)) : (r.author?.[0]?.display ?? ''),
    own: !!a && author?.author === a.id, binary_id: binary, content_type: att.contentType ?? '', size: att.size ?? 0,
    status: r.status ?? 'current', replaces: replacedIdOf(r), replaced_by: '',
  };
}

/** A list as one reader gets it: what its author retracted only for them, versions linked. */
function documentItems(pid, a, docs) {
  const items = docs.map((r) => documentJson(pid, r, a)).filter((d) => d.status !== 'entered-in-error' || d.own);
  const byId = new Map(items.map((d) => [d.id, d]));
  for (const d of items) {
    if (!d.replaces) continue;
    const old = byId.get(d.replaces);
    if (old) old.replaced_by = d.id;
    else d.replaces = '';
  }
  return items.sort((x, y) => String(y.date).localeCompare(String(x.date)));
}

function newAccessCode() {
  const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  let s = '';
  for (let i = 0; i < 10; i++) s += alphabet[crypto.randomInt(32)];
  return `${s.slice(0, 4)}-${s.slice(4, 8)}-${s.slice(8)}`;
}

function codeStatus(c) {
  if (c.status === 'active' && c.expires_at <= nowUs()) return 'expired';
  return c.status;
}

const freshAuthNeeded = () => {
  const [status, body] = forbidden('confirmez votre identité (mot de passe et code) avant un accès d’urgence');
  body.issue[0].details = { coding: [{ system: 'https://carnet.health/fhir/CodeSystem/access-reason', code: 'needs-fresh-auth' }], text: 'needs-fresh-auth' };
  return [status, body];
};

/** The FHIR guard for professionals: the record they may open, else "not found". */
function professionalFhir(a, pid, type, isSearch) {
  if (!pid || !recordExists(pid)) return { error: outcome(404, 'not-found', 'ressource introuvable') };
  const d = decide(a, pid);
  logAccess(pid, a, isSearch ? 'search' : 'read', {
    resource_type: type, category: CATEGORY_OF_TYPE[type] ?? 'record', basis: d.basis, outcome: d.allow ? 'allow' : 'deny',
    reason: d.allow ? 'allowed' : d.reason, emergency: !!d.emergency, purpose: d.emergency ? (d.basis === 'ETREAT' ? 'ETREAT' : 'BTG') : 'TREAT',
  });
  // A refused read of something that exists answers like one of something that does not.
  if (!d.allow) return { error: outcome(404, 'not-found', 'ressource introuvable') };
  return { decision: d };
}

function seedAccess() {
  gridVersions.push({ version: 0, created_at: nowUs() - 200 * 24 * 3600 * 1e6, created_by: '', professions: loadDefaultGrid() });
  const marie = accounts.get('acc-marie-martin');
  if (!marie?.patient_id) return;
  const pid = marie.patient_id;
  const day = 24 * 3600 * 1e6;
  const paul = accounts.get('acc-paul-durand');
  const sophie = accounts.get('acc-sophie-lefevre');
  const karim = accounts.get('acc-karim-haddad');
  const ines = accounts.get('acc-ines-roux');
  setRelation(pid, paul.id, { status: 'authorised', roles: ['medecin-traitant'] });
  setRelation(pid, ines.id, { status: 'blocked', roles: [] });
  const past = (daysAgo, a, action, fields) => {
    const e = logAccess(pid, a, action, fields);
    e.at = nowUs() - daysAgo * day;
    return e;
  };
  past(30, marie, 'manage', { basis: 'self' });
  past(21, paul, 'read', { resource_type: 'Observation', category: 'measurements', basis: 'medecin-traitant', count: 4 });
  past(14, sophie, 'read', { resource_type: 'MedicationRequest', category: 'treatments', basis: 'authorised' });
  const opened = nowUs() - 10 * day;
  grants.push({ id: 'urg-1', pid, account: karim.id, kind: 'BTG', reason: 'Patiente inconsciente à domicile, recherche des allergies et des traitements en cours.', opened_at: opened, until: opened + EMERGENCY_US });
  past(10, karim, 'open-emergency', { basis: 'BTG', emergency: true, purpose: 'BTG' });
  past(10, karim, 'read', { resource_type: 'AllergyIntolerance', category: 'allergies', basis: 'BTG', emergency: true, purpose: 'BTG', count: 3 });
  past(3, ines, 'read', { resource_type: 'Patient', category: 'record', basis: 'none', outcome: 'deny', reason: 'blocked' });
  past(1, paul, 'read', { resource_type: 'DocumentReference', category: '10', basis: 'medecin-traitant', count: 2 });
  accessLog.sort((x, y) => x.at - y.at);
  accessLog.forEach((e, i) => (e.seq = i + 1));
  logSeq = accessLog.length;
  const docs = documentsOf(pid).sort((x, y) => String(y.date ?? '').localeCompare(String(x.date ?? '')));
  if (docs[1]) maskedDocs.add(`${pid}|DocumentReference/${docs[1].id}`);
}

function accessRoute(req, url, b, a, s) {
  const p = url.pathname.replace(/\/+$/, '');
  const m = req.method;
  const str = (k) => (typeof b[k] === 'string' ? b[k] : '');
  const q = url.searchParams;

  // ---- the grid: anyone signed in reads it, admins edit it ----
  if (p === '/access/grid') {
    const cur = gridVersions.at(-1);
    if (m === 'GET') return json(200, { version: cur.version, created_at: cur.created_at, created_by: cur.created_by, grid: { professions: cur.professions } });
    if (m === 'PUT') {
      if (a.kind !== 'admin') return forbidden('réservé aux administrateurs');
      const prof = b.professions;
      if (!prof || typeof prof !== 'object' || Array.isArray(prof) || !Object.keys(prof).length) return invalid('la grille doit donner chaque profession', 'professions');
      for (const [code, row] of Object.entries(prof)) {
        if (!PROFESSIONS.some(([c]) => c === code)) return invalid(`profession inconnue: ${code.slice(0, 40)}`, 'professions');
        for (const col of GRID_COLUMNS) if (!['Y', 'N', 'P'].includes(row?.[col])) return invalid(`valeur manquante ou invalide: ${code} × ${col}`, 'professions');
        for (const col of Object.keys(row)) if (!GRID_COLUMNS.includes(col)) return invalid(`colonne inconnue: ${col.slice(0, 40)}`, 'professions');
      }
      // The author by account id, as the real server gives it.
      const v = { version: cur.version + 1, created_at: nowUs(), created_by: a.id, professions: structuredClone(prof) };
      gridVersions.push(v);
      return json(200, { version: v.version, created_at: v.created_at, created_by: v.created_by, grid: { professions: v.professions } });
    }
  }
  if (m === 'GET' && p === '/access/grid/versions') {
    if (a.kind !== 'admin') return forbidden('réservé aux administrateurs');
    return json(200, [...gridVersions].reverse().map(({ version, created_at, created_by }) => ({ version, created_at, created_by })));
  }

  // ---- professionals ----
  if (m === 'POST' && p === '/access/codes/redeem') {
    if (a.kind !== 'professional') return forbidden('réservé aux professionnels de santé');
    const holder = str('patient') ? holderOf(str('patient')) : findByLogin(normalizeIns(str('ins')) ?? '');
    const pid = str('patient') || holder?.patient_id || '';
    const wrong = () => outcome(404, 'not-found', 'code invalide ou expiré');
    if (!pid || !recordExists(pid)) return wrong();
    const open = [...accessCodes.values()].filter((c) => c.pid === pid && codeStatus(c) === 'active');
    const given = normalizeActivationCode(str('code'));
    const c = open.find((x) => normalizeActivationCode(x.code) === given);
    if (!c || relationOf(pid, a.id)?.status === 'blocked') {
      for (const x of open) if (++x.tries >= 5) x.status = 'void';
      logAccess(pid, a, 'redeem-code', { basis: 'none', outcome: 'deny', reason: 'no-basis' });
      return wrong();
    }
    Object.assign(c, { status: 'used', used_by: a.id });
    const rel = setRelation(pid, a.id, { status: 'authorised', via_code: true });
    logAccess(pid, a, 'redeem-code', { basis: 'code' });
    const who = holderOf(pid);
    return json(200, { patient_id: pid, name: who ? displayName(who) : store.get('Patient').get(pid)?.name?.[0]?.family ?? '', via_code: rel.via_code });
  }
  if (m === 'GET' && p === '/access/patients') {
    if (a.kind !== 'professional') return forbidden('réservé aux professionnels de santé');
    const pids = new Set([...relations.values()].filter((r) => r.account === a.id).map((r) => r.pid));
    for (const g of grants) if (g.account === a.id && g.until > nowUs()) pids.add(g.pid);
    const out = [];
    for (const pid of pids) {
      const d = decide(a, pid);
      if (!d.allow) continue;
      const who = holderOf(pid);
      const name = who ? displayName(who) : (store.get('Patient').get(pid)?.name?.[0]?.family ?? pid);
      out.push({ patient_id: pid, name, basis: d.basis, until: d.until ?? null });
    }
    return json(200, out);
  }
  if (m === 'GET' && p === '/access/log') {
    return logPage(accessLog.filter((e) => e.actor === a.id), q);
  }

  // ---- one record ----
  const mm = /^\/access\/records\/([^/]+)\/([a-z]+)(?:\/([^/]+))?(?:\/([^/]+))?(?:\/(release))?$/.exec(p);
  if (!mm) return outcome(404, 'not-found', `${m} ${p} n'existe pas`);
  const pid = decodeURIComponent(mm[1]);
  const what = mm[2];
  const rest = [mm[3], mm[4]].filter(Boolean).map(decodeURIComponent);

  if (what === 'emergency' && m === 'POST') {
    if (a.kind !== 'professional') return forbidden('réservé aux professionnels de santé');
    if (!recordExists(pid)) return outcome(404, 'not-found', 'ressource introuvable');
    const purpose = str('purpose') || 'BTG';
    const settings = settingsOf(pid);
    const rel = relationOf(pid, a.id);
    const refuse = (reason, message) => {
      logAccess(pid, a, 'open-emergency', { basis: 'none', outcome: 'deny', reason, purpose, emergency: true });
      return forbidden(message);
    };
    if (rel?.status === 'blocked') return refuse('blocked', 'le patient vous a bloqué');
    if (purpose === 'ETREAT') {
      if (a.specialty !== 'regulation-samu') return refuse('not-regulator', 'réservé aux médecins régulateurs du SAMU');
      if (!settings.etreat) return refuse('emergency-disabled', "le patient a désactivé l'accès par la régulation du SAMU");
    } else if (purpose === 'BTG') {
      if (!settings.btg) return refuse('emergency-disabled', 'le patient a désactivé le bris de glace');
      if ([...str('reason').trim()].length < 10) return invalid('le motif doit compter au moins 10 caractères', 'reason');
      if (!recentlyAuthenticated(s)) {
        logAccess(pid, a, 'open-emergency', { basis: 'none', outcome: 'deny', reason: 'needs-fresh-auth', purpose, emergency: true });
        return freshAuthNeeded();
      }
    } else {
      return invalid('motif d’accès inconnu (BTG ou ETREAT)', 'purpose');
    }
    const g = { id: `urg-${crypto.randomUUID()}`, pid, account: a.id, kind: purpose, reason: str('reason').trim(), opened_at: nowUs(), until: nowUs() + EMERGENCY_US };
    grants.push(g);
    logAccess(pid, a, 'open-emergency', { basis: purpose, purpose, emergency: true });
    const holder = holderOf(pid);
    if (holder?.email_verified) deliver('email', holder.email, 'emergency_access', '', 'emergency access');
    return json(200, { until: g.until });
  }
  if (what === 'documents' && rest.length === 2 && m === 'POST' && mm[5] === 'release') return noContent();

  // The holder's controls: the person, or a legal representative of a minor.
  const rec = recordFor(a, pid);
  if (!rec) {
    if (a.kind === 'professional' && recordExists(pid) && relationOf(pid, a.id)) return forbidden('seul le patient gère ces réglages');
    return outcome(404, 'not-found', 'ressource introuvable');
  }
  if (rec.relation === 'caregiver') {
    logAccess(pid, a, what === 'log' ? 'read-audit' : 'manage', { basis: 'caregiver', outcome: 'deny', reason: 'not-permitted' });
    return forbidden('un aidant ne gère pas ces réglages : seul le titulaire du dossier, ou son représentant légal, le peut');
  }
  const basis = rec.relation === 'self' ? 'self' : 'representative';
  const manage = () => logAccess(pid, a, 'manage', { basis });

  if (what === 'settings') {
    if (m === 'GET') return json(200, settingsOf(pid));
    if (m === 'PUT') {
      const next = settingsOf(pid);
      for (const [k, v] of Object.entries(b)) {
        if (!(k in ACCESS_SETTINGS)) return invalid(`réglage inconnu: ${k.slice(0, 40)}`, k);
        if (typeof v !== 'boolean') return invalid(`le réglage ${k} attend vrai ou faux`, k);
        next[k] = v;
      }
      accessSettings.set(pid, next);
      manage();
      return json(200, next);
    }
  }
  if (what === 'professionals') {
    if (m === 'GET' && !rest.length) {
      const ids = new Set([...relations.values()].filter((r) => r.pid === pid).map((r) => r.account));
      for (const e of accessLog) if (e.pid === pid && e.actor_kind === 'professional') ids.add(e.actor);
      return json(200, [...ids].filter((id) => accounts.get(id)?.kind === 'professional').map((id) => professionalJson(pid, id, relationOf(pid, id))));
    }
    const account = rest[0];
    const pro = account && accounts.get(account);
    if (!pro || pro.kind !== 'professional') return outcome(404, 'not-found', 'professionnel inconnu');
    if (m === 'PUT') {
      const change = {};
      if ('status' in b) {
        if (!['authorised', 'blocked', 'known'].includes(b.status)) return invalid('statut inconnu (authorised, blocked ou known)', 'status');
        change.status = b.status;
        if (b.status !== 'authorised') change.via_code = false;
      }
      if ('roles' in b) {
        if (!Array.isArray(b.roles) || b.roles.some((r) => !ROLES.includes(r))) return invalid('rôle inconnu', 'roles');
        change.roles = [...new Set(b.roles)];
        // One médecin traitant, one sage-femme référente, one pharmacien correspondant.
        for (const role of change.roles.filter((r) => SINGLE_ROLES.includes(r))) {
          for (const other of relations.values()) {
            if (other.pid === pid && other.account !== account) other.roles = other.roles.filter((r) => r !== role);
          }
        }
      }
      const rel = setRelation(pid, account, change);
      manage();
      return json(200, professionalJson(pid, account, rel));
    }
    if (m === 'DELETE') {
      setRelation(pid, account, { status: 'known', roles: [], via_code: false });
      manage();
      return noContent();
    }
  }
  if (what === 'codes') {
    if (m === 'POST' && !rest.length) {
      const c = { id: `code-${crypto.randomUUID()}`, pid, code: newAccessCode(), created_at: nowUs(), expires_at: nowUs() + CODE_TTL, status: 'active', tries: 0, used_by: '' };
      accessCodes.set(c.id, c);
      manage();
      console.log(`mock-server: access code ${c.code} for record ${pid}`);
      return json(201, { id: c.id, code: c.code, expires_at: c.expires_at });
    }
    if (m === 'GET' && !rest.length) {
      const list = [...accessCodes.values()].filter((c) => c.pid === pid).sort((x, y) => y.created_at - x.created_at);
      return json(200, list.map((c) => ({
        id: c.id, created_at: c.created_at, expires_at: c.expires_at, status: codeStatus(c),
        used_by_name: c.used_by && accounts.get(c.used_by) ? displayName(accounts.get(c.used_by)) : '',
      })));
    }
    if (m === 'DELETE' && rest.length === 1) {
      const c = accessCodes.get(rest[0]);
      if (!c || c.pid !== pid) return outcome(404, 'not-found', 'code inconnu');
      if (codeStatus(c) === 'active') c.status = 'revoked';
      manage();
      return noContent();
    }
  }
  if (what === 'documents') {
    if (m === 'GET' && !rest.length) return json(200, documentItems(pid, a, documentsOf(pid)));
    if (m === 'PUT' && rest.length === 2) {
      const [type, id] = rest;
      const doc = store.get(type)?.get(id);
      if (!doc || patientOf(doc) !== pid) return outcome(404, 'not-found', 'document introuvable');
      if (typeof b.masked !== 'boolean') return invalid('masked attend vrai ou faux', 'masked');
      if (b.masked) maskedDocs.add(`${pid}|${type}/${id}`);
      else maskedDocs.delete(`${pid}|${type}/${id}`);
      manage();
      return noContent();
    }
  }
  if (what === 'log' && m === 'GET') {
    logAccess(pid, a, 'read-audit', { basis });
    return logPage(accessLog.filter((e) => e.pid === pid), q);
  }
  if (what === 'emergencies' && m === 'GET') {
    return json(200, grants.filter((g) => g.pid === pid).sort((x, y) => y.opened_at - x.opened_at).map((g) => ({
      id: g.id, professional_name: accounts.get(g.account) ? displayName(accounts.get(g.account)) : '', kind: g.kind,
      reason: g.reason, opened_at: g.opened_at, until: g.until,
    })));
  }
  return outcome(404, 'not-found', `${m} ${p} n'existe pas`);
}

/** Newest first, with the filters of GET …/log; `next_before` when older entries remain. */
function logPage(entries, q) {
  const outcomeFilter = q.get('outcome');
  const since = Number(q.get('since') ?? 0) || 0;
  const until = Number(q.get('until') ?? 0) || 0;
  const before = Number(q.get('before') ?? 0) || 0;
  const limit = Math.min(Math.max(Number(q.get('limit') ?? 50) || 50, 1), 200);
  const list = entries
    .filter((e) => (!outcomeFilter || e.outcome === outcomeFilter) && (q.get('emergency') !== '1' || e.emergency) &&
      (!since || e.at >= since) && (!until || e.at <= until) && (!before || e.seq < before))
    .sort((x, y) => y.seq - x.seq);
  const page = list.slice(0, limit);
  return json(200, { entries: page.map(logJson), next_before: list.length > limit ? page.at(-1).seq : null });
}

// ---------- The medical profile (docs/PROFILE.md) ----------
// GET /records/{pid}/profile (entries by section with their author, the booklet against the
// French schedule of src/profile/schedule_fr.json, the BMI and the series), GET
// /fhir/Patient/{pid}/$summary (an IPS document Bundle), and POST/PUT/DELETE /fhir/{Type} for
// the profile's types, in memory. Authors are kept beside the resources (the real server keeps
// a Provenance): Synthea's entries are "system", Marie Martin's record starts with an allergy
// and measurements written by Dr Paul Durand and a dispensation and a stay from the insurer.
const LOINC_SYS = 'http://loinc.org';
const PROFILE_SYS = 'https://carnet.health/fhir/CodeSystem/profile';
const VACCINE_SYS = 'https://carnet.health/fhir/CodeSystem/vaccine';
const OBS_CAT_SYS = 'http://terminology.hl7.org/CodeSystem/observation-category';
const PROFILE_TYPES = new Set(['Observation', 'Condition', 'FamilyMemberHistory', 'AllergyIntolerance', 'MedicationStatement', 'MedicationDispense', 'Immunization', 'Encounter', 'Procedure', 'Consent', 'RelatedPerson']);
const SECTION_KEYS = ['blood_group', 'organ_donation', 'lifestyle', 'measurements', 'disability', 'conditions', 'family_history', 'allergies', 'treatments', 'dispensations', 'vaccinations', 'stays', 'procedures', 'advance_directives', 'contacts'];
const INSURER = 'Assurance Maladie';
/** `${type}/${id}` → { kind, account, name, version, updated } */
const entryMeta = new Map();
const loadedAt = new Date().toISOString();

function metaOf(r) {
  const key = `${r.resourceType}/${r.id}`;
  let m = entryMeta.get(key);
  if (!m) {
    m = { kind: 'system', account: '', name: '', version: 1, updated: loadedAt };
    entryMeta.set(key, m);
  }
  return m;
}

function setAuthor(r, a, kind) {
  const m = metaOf(r);
  Object.assign(m, kind === 'insurer' ? { kind, account: '', name: INSURER } : { kind: a.kind === 'professional' ? 'professional' : 'patient', account: a.id, name: displayName(a) });
  return m;
}

const hasCoding = (cc, code, system) => (cc?.coding ?? []).some((c) => c.code === code && (!system || c.system === system));
const inCategory = (r, code, system) => (r.category ?? []).some((c) => hasCoding(c, code, system));

/** The section of a resource: the first row of PROFILE.md's table that matches; '' otherwise. */
function sectionOf(r) {
  switch (r.resourceType) {
    case 'Observation':
      if (r.status === 'entered-in-error') return '';
      if (hasCoding(r.code, '882-1')) return 'blood_group';
      if (hasCoding(r.code, 'organ-donation', PROFILE_SYS)) return 'organ_donation';
      if (inCategory(r, 'social-history')) return 'lifestyle';
      if (inCategory(r, 'laboratory')) return '';
      return 'measurements';
    case 'Condition':
      return inCategory(r, 'disability', PROFILE_SYS) ? 'disability' : 'conditions';
    case 'FamilyMemberHistory': return 'family_history';
    case 'AllergyIntolerance': return 'allergies';
    case 'MedicationStatement': return 'treatments';
    case 'MedicationDispense': return 'dispensations';
    case 'Immunization': return 'vaccinations';
    // Only stays: Synthea's consultations (class AMB) are not hospitalisations.
    case 'Encounter': return r.class?.code === 'IMP' ? 'stays' : '';
    case 'Procedure': return 'procedures';
    case 'Consent': return hasCoding(r.scope, 'adr') || inCategory(r, '42348-3') ? 'advance_directives' : '';
    case 'RelatedPerson': return 'contacts';
    default: return '';
  }
}

function clinicalDateOf(r) {
  switch (r.resourceType) {
    case 'Observation': return r.effectiveDateTime ?? r.effectivePeriod?.start ?? r.issued ?? '';
    case 'Condition': return r.onsetDateTime ?? r.recordedDate ?? '';
    case 'FamilyMemberHistory': return r.date ?? '';
    case 'AllergyIntolerance': return r.onsetDateTime ?? r.recordedDate ?? '';
    case 'MedicationStatement': return r.effectivePeriod?.start ?? r.effectiveDateTime ?? r.dateAsserted ?? '';
    case 'MedicationDispense': return r.whenHandedOver ?? r.whenPrepared ?? '';
    case 'Immunization': return r.occurrenceDateTime ?? r.recorded ?? '';
    case 'Encounter': return r.period?.start ?? '';
    case 'Procedure': return r.performedDateTime ?? r.performedPeriod?.start ?? '';
    case 'Consent': return r.dateTime ?? '';
    default: return '';
  }
}

function profileEntriesOf(pid) {
  const out = [];
  for (const type of PROFILE_TYPES) {
    for (const r of store.get(type).values()) {
      if (patientOf(r) !== pid) continue;
      const section = sectionOf(r);
      if (section) out.push({ r, section });
    }
  }
  return out;
}

const isoDay = (d) => d.toISOString().slice(0, 10);

/** birth + an ISO 8601 duration ("P2M", "P6Y6M", "P6W"), as YYYY-MM-DD. */
function addDuration(birth, duration) {
  const m = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$/.exec(duration ?? '');
  if (!m) return '';
  const d = new Date(`${birth}T00:00:00Z`);
  d.setUTCFullYear(d.getUTCFullYear() + Number(m[1] ?? 0), d.getUTCMonth() + Number(m[2] ?? 0), d.getUTCDate() + 7 * Number(m[3] ?? 0) + Number(m[4] ?? 0));
  return isoDay(d);
}

let scheduleCache;
/** src/profile/schedule_fr.json, else a small stand-in. */
function schedule() {
  if (scheduleCache) return scheduleCache;
  try {
    const s = JSON.parse(fs.readFileSync(path.join(repo, 'src', 'profile', 'schedule_fr.json'), 'utf8'));
    if (s.vaccines?.length && s.schedule?.length) return (scheduleCache = s);
  } catch {
    /* not there: the stand-in */
  }
  return (scheduleCache = {
    vaccines: [
      { code: 'hexavalent', label: 'DTCaP-Hib-HepB (hexavalent)', antigens: ['D', 'T', 'aP', 'IPV', 'Hib', 'HepB'], cvx: ['146'] },
      { code: 'ror', label: 'ROR, rougeole-oreillons-rubéole', antigens: ['MMR'], cvx: ['03'] },
      { code: 'dtcapolio-adulte', label: 'dTcaPolio, adolescent et adulte', antigens: ['D', 'T', 'aP', 'IPV'], cvx: [] },
      { code: 'dt', label: 'dT, diphtérie-tétanos de l’adulte', antigens: ['D', 'T'], cvx: ['113'] },
      { code: 'grippe', label: 'Grippe saisonnière', antigens: ['Flu'], cvx: ['140'] },
    ],
    schedule: [
      { id: 'hexavalent-1', vaccine: 'hexavalent', dose: 1, label: 'DTCaP-Hib-HepB, 1re dose', antigens: ['D', 'T', 'aP', 'IPV', 'Hib', 'HepB'], due: 'P2M', min: 'P6W', overdue: 'P3M', limit: 'P6Y' },
      { id: 'ror-1', vaccine: 'ror', dose: 1, label: 'ROR, 1re dose', antigens: ['MMR'], due: 'P12M', min: 'P9M', overdue: 'P13M' },
      { id: 'dtcapolio-25y', vaccine: 'dtcapolio-adulte', dose: 2, label: 'dTcaPolio, rappel de 25 ans', antigens: ['D', 'T', 'aP', 'IPV'], due: 'P25Y', min: 'P20Y', overdue: 'P26Y', limit: 'P45Y' },
    ],
  });
}

/** The doses of a record's completed immunizations whose vaccine is in the catalogue. */
function dosesOf(immunizations) {
  const { vaccines } = schedule();
  const out = [];
  for (const r of immunizations) {
    if (r.status !== 'completed') continue;
    const date = (r.occurrenceDateTime ?? '').slice(0, 10);
    if (!date) continue;
    const v = vaccines.find((x) => (r.vaccineCode?.coding ?? []).some((c) =>
      (c.system === VACCINE_SYS && c.code === x.code) ||
      (c.system === 'http://hl7.org/fhir/sid/cvx' && (x.cvx ?? []).includes(c.code)) ||
      (c.system === 'http://www.whocc.no/atc' && (x.atc ?? []).includes(c.code))));
    if (v) out.push({ id: r.id, date, antigens: v.antigens });
  }
  return out.sort((a, b) => a.date.localeCompare(b.date));
}

/** The booklet: each line of the schedule done, due, overdue, upcoming or not recorded. */
function bookletOf(birth, doses, today = isoDay(new Date())) {
  const horizon = addDuration(today, 'P2Y');
  const { schedule: lines } = schedule();
  const chosen = lines
    .filter((l) => !l.born_from || birth >= l.born_from)
    .map((l) => ({ ...l, dueDate: addDuration(birth, l.due), minDate: addDuration(birth, l.min ?? l.due), limitDate: l.limit ? addDuration(birth, l.limit) : '' }))
    .filter((l) => l.dueDate && l.dueDate <= horizon)
    .sort((a, b) => a.dueDate.localeCompare(b.dueDate));
  // Each antigen of each dose covers the earliest line still waiting for it whose window holds the dose.
  const covered = new Map(chosen.map((l) => [l.id, new Map()]));
  for (const d of doses) {
    for (const ag of d.antigens) {
      const line = chosen.find((l) => l.antigens.includes(ag) && !covered.get(l.id).has(ag) && d.date >= l.minDate && (!l.limitDate || d.date < l.limitDate) && !l.yearly);
      if (line) covered.get(line.id).set(ag, d);
    }
  }
  return chosen.map((l) => {
    const cov = covered.get(l.id);
    let status;
    let given = '';
    let ids = [...new Set([...cov.values()].map((d) => d.id))];
    const missing = l.antigens.filter((ag) => !cov.has(ag));
    if (l.yearly) {
      // One line a season: from 1 September a dose counts for the season starting 1 October.
      const year = Number(today.slice(0, 4)) - (today.slice(5) < '09-01' ? 1 : 0);
      const dose = doses.filter((d) => d.date >= `${year}-09-01` && l.antigens.every((ag) => d.antigens.includes(ag))).at(-1);
      if (dose) {
        status = 'done';
        given = dose.date;
        ids = [dose.id];
      } else status = today < l.dueDate ? 'upcoming' : 'due';
      return { item: l.id, vaccine: l.vaccine, label: l.label, dose: l.dose, due: l.dueDate, overdue: '', status, given, immunizations: ids, missing: dose ? [] : l.antigens };
    }
    if (!missing.length) {
      status = 'done';
      given = [...cov.values()].map((d) => d.date).sort().at(-1);
    } else if (today < l.dueDate) status = 'upcoming';
    else if (today < addDuration(birth, l.overdue ?? l.due)) status = 'due';
    else if (l.limitDate && today >= l.limitDate) status = 'not-recorded';
    else status = 'overdue';
    return { item: l.id, vaccine: l.vaccine, label: l.label, dose: l.dose, due: l.dueDate, overdue: addDuration(birth, l.overdue ?? l.due), status, given, immunizations: ids, missing: missing.length === l.antigens.length ? [] : missing };
  });
}

/** Weights in kg, heights in cm, blood pressures; the BMI of each weight and the latest. */
function measuresOf(observations) {
  const weight = [];
  const height = [];
  const bp = [];
  const qty = (q, to) => {
    if (typeof q?.value !== 'number') return undefined;
    const u = q.code ?? q.unit;
    if (to === 'kg') return u === 'g' ? q.value / 1000 : u === '[lb_av]' ? q.value * 0.45359237 : q.value;
    return u === 'm' ? q.value * 100 : u === '[in_i]' ? q.value * 2.54 : q.value;
  };
  for (const o of observations) {
    if (o.status === 'entered-in-error') continue;
    const date = o.effectiveDateTime ?? o.effectivePeriod?.start ?? '';
    if (!date) continue;
    if (['29463-7', '3141-9'].some((c) => hasCoding(o.code, c))) {
      const v = qty(o.valueQuantity, 'kg');
      if (v !== undefined) weight.push({ date, value: Math.round(v * 10) / 10 });
    } else if (['8302-2', '8306-3', '8308-9'].some((c) => hasCoding(o.code, c))) {
      const v = qty(o.valueQuantity, 'cm');
      if (v !== undefined) height.push({ date, value: Math.round(v * 10) / 10 });
    } else if (['85354-9', '55284-4'].some((c) => hasCoding(o.code, c))) {
      const comp = (code) => o.component?.find((c) => hasCoding(c.code, code))?.valueQuantity?.value;
      const systolic = comp('8480-6');
      const diastolic = comp('8462-4');
      if (typeof systolic === 'number' && typeof diastolic === 'number') bp.push({ date, systolic, diastolic });
    }
  }
  const byDate = (a, b) => a.date.localeCompare(b.date);
  weight.sort(byDate);
  height.sort(byDate);
  bp.sort(byDate);
  const bmiAt = (w) => {
    const h = height.filter((x) => x.date.slice(0, 10) <= w.date.slice(0, 10)).at(-1);
    return h ? { value: Math.round((w.value / (h.value / 100) ** 2) * 10) / 10, height_cm: h.value } : undefined;
  };
  for (const w of weight) w.bmi = bmiAt(w)?.value ?? null;
  const last = weight.at(-1);
  const lastBmi = last && bmiAt(last);
  return {
    bmi: lastBmi ? { value: lastBmi.value, date: last.date, height_cm: lastBmi.height_cm, weight_kg: last.value } : null,
    series: { weight, height, blood_pressure: bp },
  };
}

// The grid's column of an entry, as access::Classify gives it: the profile's columns whoever
// wrote them; what the patient side writes otherwise is class 90 ("déposé par le patient");
// other types by their class (stays, advance directives and contacts are 95, dispensations 43,
// acts 10).
const PROFILE_COLUMNS = new Set(['conditions', 'allergies', 'treatments', 'immunizations', 'measurements']);
function columnOf(r, authorKind) {
  let col;
  switch (r.resourceType) {
    case 'Observation': col = inCategory(r, 'laboratory') ? '10' : 'measurements'; break;
    case 'Condition': case 'FamilyMemberHistory': col = 'conditions'; break;
    case 'AllergyIntolerance': col = 'allergies'; break;
    case 'MedicationStatement': col = 'treatments'; break;
    case 'Immunization': col = 'immunizations'; break;
    case 'MedicationDispense': col = '43'; break;
    case 'Encounter': case 'Consent': case 'RelatedPerson': col = '95'; break;
    default: col = '10';
  }
  return authorKind === 'patient' && !PROFILE_COLUMNS.has(col) ? '90' : col;
}
/** The resource type of a section's new entry (docs/PROFILE.md's table). */
const SECTION_TYPE = {
  blood_group: 'Observation', organ_donation: 'Observation', lifestyle: 'Observation', measurements: 'Observation',
  disability: 'Condition', conditions: 'Condition', family_history: 'FamilyMemberHistory', allergies: 'AllergyIntolerance',
  treatments: 'MedicationStatement', dispensations: 'MedicationDispense', vaccinations: 'Immunization', stays: 'Encounter',
  procedures: 'Procedure', advance_directives: 'Consent', contacts: 'RelatedPerson',
};
/** Whether the grid in force lets this professional's profession read or write a column (P: not sensitive here, so yes). */
function gridAllows(a, col) {
  const cell = gridVersions.at(-1)?.professions?.[a.profession]?.[col];
  return cell === 'Y' || cell === 'P';
}

/** Who may read a record's profile: { allowed, professional, decision }. */
function profileAccess(a, pid) {
  if (!pid || !recordExists(pid)) return { error: outcome(404, 'not-found', 'ressource introuvable') };
  if (a.kind === 'patient') {
    if (!recordsOf(a).some((r) => r.patient_id === pid)) return { error: outcome(404, 'not-found', 'ressource introuvable') };
    return { patient: true };
  }
  if (a.kind === 'professional') {
    const guard = professionalFhir(a, pid, 'Patient', false);
    return guard.error ? guard : { decision: guard.decision };
  }
  return { error: outcome(403, 'forbidden', "les comptes opérateurs n'ont jamais accès au contenu des dossiers") };
}

function recordOpen(pid) {
  const holder = holderOf(pid);
  return !holder || holder.status === 'active' || holder.status === 'pending';
}

function profileJson(a, pid) {
  const patient = store.get('Patient').get(pid);
  const birth = patient.birthDate ?? '';
  const age = ageInYears(birth);
  const minor = age >= 0 && age < MAJORITY;
  const name = patient.name?.find((n) => n.use === 'official') ?? patient.name?.[0];
  const open = recordOpen(pid);
  const sections = Object.fromEntries(SECTION_KEYS.map((k) => [k, []]));
  const pro = a.kind === 'professional';
  // What a professional may not read is left out, and said only as `withheld`.
  let withheld = false;
  const visible = [];
  for (const { r, section } of profileEntriesOf(pid)) {
    const m = metaOf(r);
    if (pro && !gridAllows(a, columnOf(r, m.kind))) {
      withheld = true;
      continue;
    }
    visible.push(r);
    const own = m.account === a.id;
    sections[section].push({
      type: r.resourceType, id: r.id, version: String(m.version), updated: m.updated, resource: r,
      author: { kind: m.kind, name: m.kind === 'insurer' ? INSURER : m.name }, own, editable: own && open && m.kind !== 'insurer',
    });
  }
  const when = (e) => clinicalDateOf(e.resource) || e.updated;
  for (const list of Object.values(sections)) list.sort((x, y) => when(y).localeCompare(when(x)) || y.updated.localeCompare(x.updated));
  // The holder (and whoever acts for the record) adds to every section; a professional where the grid allows.
  const can_add = Object.fromEntries(SECTION_KEYS.map((k) => {
    if (!open || k === 'dispensations') return [k, false];
    if (k === 'advance_directives' && minor) return [k, false];
    if (a.kind === 'patient') return [k, true];
    // The person's own declarations are written by the holder side only (as the server).
    if (['advance_directives', 'contacts', 'organ_donation'].includes(k)) return [k, false];
    return [k, gridAllows(a, columnOf({ resourceType: SECTION_TYPE[k] }, 'professional'))];
  }));
  // The booklet and the measures from what this caller sees, as the server works them out.
  const immunizations = visible.filter((r) => r.resourceType === 'Immunization');
  const observations = pro
    ? visible.filter((r) => r.resourceType === 'Observation')
    : [...store.get('Observation').values()].filter((r) => patientOf(r) === pid);
  const { bmi, series } = measuresOf(observations);
  return {
    patient: { id: pid, name: [...(name?.given ?? []), name?.family ?? ''].join(' ').trim(), birth_date: birth, age, minor, gender: patient.gender ?? 'unknown' },
    sections,
    can_add,
    // No booklet for a reader the grid refuses vaccinations (it would call given vaccines due).
    booklet: pro && !gridAllows(a, columnOf({ resourceType: 'Immunization' }, 'professional')) ? null
      : birth ? bookletOf(birth, dosesOf(immunizations)) : [],
    vaccines: schedule().vaccines.map(({ code, label, antigens }) => ({ code, label, antigens })),
    bmi,
    series,
    withheld,
  };
}

const IPS_SECTIONS = [
  ['11450-4', 'Problèmes de santé', ['conditions'], 'nilknown'],
  ['48765-2', 'Allergies et intolérances', ['allergies'], 'nilknown'],
  ['10160-0', 'Traitements', ['treatments', 'dispensations'], 'nilknown'],
  ['11369-6', 'Vaccinations', ['vaccinations'], 'unavailable'],
  ['47519-4', 'Actes', ['procedures'], 'unavailable'],
  ['8716-3', 'Signes vitaux', ['measurements', 'blood_group'], 'unavailable'],
  ['29762-2', 'Mode de vie', ['lifestyle'], 'unavailable'],
  ['42348-3', 'Directives anticipées', ['advance_directives'], 'unavailable'],
  ['47420-5', 'Autonomie et handicap', ['disability'], 'unavailable'],
];

const escapeXml = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

function summaryBundle(pid, base) {
  const patient = store.get('Patient').get(pid);
  const entries = profileEntriesOf(pid)
    // Vital signs: measurements the portal charts, not Synthea's questionnaires.
    .filter(({ r, section }) => section !== 'measurements' || inCategory(r, 'vital-signs'));
  const now = new Date().toISOString();
  const compositionId = crypto.randomUUID();
  const sections = IPS_SECTIONS.map(([code, title, keys, empty]) => {
    const mine = entries.filter((e) => keys.includes(e.section)).sort((x, y) => clinicalDateOf(y.r).localeCompare(clinicalDateOf(x.r)));
    const items = mine.map(({ r }) => escapeXml(r.code?.text ?? r.vaccineCode?.text ?? r.medicationCodeableConcept?.text ?? r.resourceType));
    const section = {
      title, code: { coding: [{ system: LOINC_SYS, code }] },
      text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${items.length ? `<ul>${items.map((i) => `<li>${i}</li>`).join('')}</ul>` : '<p>—</p>'}</div>` },
    };
    if (mine.length) section.entry = mine.map(({ r }) => ({ reference: `${r.resourceType}/${r.id}` }));
    else section.emptyReason = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/list-empty-reason', code: empty }] };
    return section;
  });
  const composition = {
    resourceType: 'Composition', id: compositionId, status: 'final',
    type: { coding: [{ system: LOINC_SYS, code: '60591-5', display: 'Patient summary Document' }] },
    subject: { reference: `Patient/${pid}` }, date: now, author: [{ display: 'Carnet' }],
    title: 'Résumé patient (International Patient Summary)', confidentiality: 'N', section: sections,
  };
  const full = (r) => ({ fullUrl: `${base}/${r.resourceType}/${r.id}`, resource: r });
  return {
    resourceType: 'Bundle', id: crypto.randomUUID(), type: 'document', timestamp: now,
    identifier: { system: 'urn:ietf:rfc:3986', value: `urn:uuid:${compositionId}` },
    entry: [full(composition), full(patient), ...entries.map(({ r }) => full(r))],
  };
}

/** The profile's routes; undefined when the request is not one of them. */
async function profileRoutes(req, url) {
  const p = url.pathname.replace(/\/+$/, '');
  const rec = /^\/records\/([^/]+)\/profile$/.exec(p);
  const sum = /^\/fhir\/Patient\/([^/]+)\/\$summary$/.exec(p);
  const write = /^\/fhir\/([A-Za-z]+)(?:\/([^/]+))?$/.exec(p);
  const isWrite = write && ['POST', 'PUT', 'DELETE'].includes(req.method) && PROFILE_TYPES.has(write[1]);
  if (!rec && !sum && !isWrite) return undefined;
  if ((rec || sum) && req.method !== 'GET') return outcome(405, 'not-supported', `Method ${req.method} is not supported`);
  const who = authenticate(req);
  if (who.error) return who.error;
  const a = who.account;
  if (rec || sum) {
    if (FAIL.has('profile')) return outcome(500, 'exception', 'Mock failure for the profile (MOCK_FAIL=profile)');
    const pid = decodeURIComponent((rec ?? sum)[1]);
    const access = profileAccess(a, pid);
    if (access.error) return access.error;
    if (rec) return [200, profileJson(a, pid)];
    return [200, summaryBundle(pid, `http://${req.headers.host}/fhir`)];
  }
  // Writes: the record the resource names, the section it belongs to, and its author.
  const [, type, rawId] = write;
  const id = rawId ? decodeURIComponent(rawId) : '';
  if (a.kind === 'advisor' || a.kind === 'admin') return forbidden("les comptes opérateurs n'ont jamais accès au contenu des dossiers");
  if ((req.method === 'POST') !== !id) return outcome(405, 'not-supported', `${req.method} /fhir/${type}${id ? '/{id}' : ''} is not supported`);
  const existing = id ? store.get(type).get(id) : undefined;
  if (id && !existing) return outcome(404, 'not-found', `${type}/${id} was not found`);
  let body;
  if (req.method !== 'DELETE') {
    const read = await readBody(req);
    if (read.tooLarge) return outcome(413, 'too-costly', 'corps de requête trop volumineux');
    if (read.bad) return invalid('corps JSON invalide');
    body = read.value;
    if (body.resourceType !== type) return invalid(`resourceType doit être ${type}`, 'resourceType');
    if (id && body.id !== undefined && body.id !== id) return invalid("l'id du corps ne correspond pas à l'adresse", 'id');
  }
  const pid = patientOf(body ?? existing);
  if (!pid) return invalid('la ressource doit nommer le dossier (subject ou patient)', type === 'Observation' || type === 'Condition' ? 'subject' : 'patient');
  if (existing && patientOf(existing) !== pid) return invalid('une entrée ne change pas de dossier', 'subject');
  const access = profileAccess(a, pid);
  if (access.error) return access.error;
  if (!recordOpen(pid)) return forbidden('ce dossier est fermé');
  const patient = store.get('Patient').get(pid);
  const minor = (() => { const age = ageInYears(patient?.birthDate); return age >= 0 && age < MAJORITY; })();
  if (a.kind === 'professional' && !gridAllows(a, columnOf(body ?? existing, 'professional'))) {
    return forbidden("grid: votre profession n'a pas accès à ce type de document");
  }
  if (body) {
    const section = sectionOf(body);
    if (!section || section === 'dispensations') return outcome(422, 'business-rule', "cette ressource n'est pas une entrée du profil que le portail écrit");
    if (section === 'advance_directives' && minor) return outcome(422, 'business-rule', "les directives anticipées ne concernent que les personnes majeures");
    const needsStatus = ['Observation', 'FamilyMemberHistory', 'MedicationStatement', 'Immunization', 'Encounter', 'Procedure', 'Consent'];
    if (needsStatus.includes(type) && !body.status) return invalid('status est obligatoire', 'status');
  }
  if (existing) {
    const m = metaOf(existing);
    if (m.kind === 'insurer' || m.account !== a.id) return forbidden("seul l'auteur d'une entrée peut la modifier ou la supprimer");
    const ifMatch = String(req.headers['if-match'] ?? '');
    if (ifMatch) {
      const v = /^W\/"(\d+)"$/.exec(ifMatch)?.[1];
      if (!v) return invalid('If-Match must be an ETag like W/"1"');
      if (Number(v) !== m.version) return outcome(412, 'conflict', 'If-Match does not match the current version');
    }
    logAccess(pid, a, req.method === 'DELETE' ? 'delete' : 'update', { resource_type: type, resource_id: id, category: CATEGORY_OF_TYPE[type] ?? 'record', basis: a.kind === 'patient' ? 'self' : access.decision?.basis ?? 'author' });
    if (req.method === 'DELETE') {
      store.get(type).delete(id);
      entryMeta.delete(`${type}/${id}`);
      return noContent();
    }
    m.version++;
    m.updated = new Date().toISOString();
    const stored = { ...body, id, meta: { versionId: String(m.version), lastUpdated: m.updated } };
    store.get(type).set(id, stored);
    return [200, stored, { ETag: `W/"${m.version}"` }];
  }
  const created = { ...body, id: crypto.randomUUID() };
  const m = setAuthor(created, a);
  m.version = 1;
  m.updated = new Date().toISOString();
  created.meta = { versionId: '1', lastUpdated: m.updated };
  store.get(type).set(created.id, created);
  logAccess(pid, a, 'create', { resource_type: type, resource_id: created.id, category: CATEGORY_OF_TYPE[type] ?? 'record', basis: a.kind === 'patient' ? 'self' : access.decision?.basis ?? 'author' });
  return [201, created, { ETag: 'W/"1"', Location: `/fhir/${type}/${created.id}/_history/1` }];
}

// ---- documents: deposits, new versions, retraction, content (docs/DOCUMENTS.md) ----
// POST /fhir (a transaction Bundle: DocumentReference + Binary, or DELETEs of one's own),
// GET /fhir/Binary/{id} (raw bytes), GET /records/{pid}/documents (the list for any reader,
// with `withheld`), POST /records/{pid}/documents/{id}/retract (the author only).
const UPLOAD_LIMIT = { patient: 5 * 1024 * 1024, professional: 20 * 1024 * 1024 };
const STARTS = { 'application/pdf': '%PDF-', 'image/jpeg': '\xff\xd8\xff', 'image/png': '\x89PNG' };

function readLargeBody(req, max) {
  return new Promise((resolve) => {
    let size = 0;
    const chunks = [];
    req.on('data', (c) => {
      size += c.length;
      if (size <= max) chunks.push(c);
    });
    req.on('end', () => {
      if (size > max) return resolve({ tooLarge: true });
      try {
        const value = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
        resolve(value && typeof value === 'object' && !Array.isArray(value) ? { value } : { bad: true });
      } catch {
        resolve({ bad: true });
      }
    });
  });
}

/** Whether `a` may read document `r` of record `pid`: { allow, decided } (decided: the record opens). */
function documentVisible(a, pid, r) {
  const author = docAuthors.get(r.id);
  const mine = author?.author === a.id;
  if (a.kind === 'patient') return { allow: recordsOf(a).some((x) => x.patient_id === pid) };
  if (a.kind !== 'professional') return { allow: false };
  const d = decide(a, pid);
  if (!d.allow) return { allow: false };
  if (!gridAllows(a, docCategory(r))) return { allow: false, decided: true };
  if (maskedDocs.has(`${pid}|DocumentReference/${r.id}`) && !d.seesMasked && !mine) return { allow: false, decided: true };
  return { allow: true, decided: true };
}

/** May `a` open record `pid` at all (patients: theirs; professionals: the decision)? */
function opensRecord(a, pid) {
  if (!pid || !recordExists(pid)) return false;
  if (a.kind === 'patient') return recordsOf(a).some((x) => x.patient_id === pid);
  return a.kind === 'professional' && decide(a, pid).allow;
}

function bumpVersion(r) {
  r.meta = { ...(r.meta ?? {}), versionId: String(Number(r.meta?.versionId ?? 1) + 1), lastUpdated: new Date().toISOString() };
}

function documentTransaction(a, bundle) {
  if (bundle.resourceType !== 'Bundle' || bundle.type !== 'transaction' || !Array.isArray(bundle.entry)) return invalid('POST /fhir attend un Bundle de type transaction', 'Bundle.type');
  if (a.kind !== 'patient' && a.kind !== 'professional') return forbidden("les comptes opérateurs n'ont jamais accès au contenu des dossiers");
  // Checked first, written after: all or nothing.
  const ids = new Map();
  const plan = [];
  for (const e of bundle.entry) {
    const method = e?.request?.method;
    if (method === 'POST' && ['DocumentReference', 'Binary'].includes(e.resource?.resourceType)) {
      const id = crypto.randomUUID();
      if (e.fullUrl) ids.set(e.fullUrl, `${e.resource.resourceType}/${id}`);
      plan.push({ kind: 'create', id, resource: structuredClone(e.resource) });
    } else if (method === 'DELETE') {
      const m = /^(DocumentReference|Binary)\/([^/]+)$/.exec(e.request.url ?? '');
      if (!m) return invalid("entrée DELETE non prise en charge par l'outil de démonstration");
      plan.push({ kind: 'delete', type: m[1], id: m[2] });
    } else {
      return invalid("entrée non prise en charge par l'outil de démonstration");
    }
  }
  const out = [];
  const supersede = [];
  for (const step of plan) {
    if (step.kind === 'delete') {
      if (step.type === 'DocumentReference') {
        const r = store.get('DocumentReference').get(step.id);
        if (!r) continue;
        if (docAuthors.get(step.id)?.author !== a.id) return opensRecord(a, patientOf(r)) ? forbidden('not-author: seul son auteur supprime un document') : outcome(404, 'not-found', 'ressource introuvable');
      } else {
        const b = binaries.get(step.id);
        if (b && docAuthors.get(b.doc)?.author !== a.id) return forbidden('not-author: seul son auteur supprime un document');
      }
      continue;
    }
    const r = step.resource;
    const rewrite = (ref) => ids.get(ref) ?? ref;
    if (r.resourceType === 'DocumentReference') {
      for (const c of r.content ?? []) if (c.attachment?.url) c.attachment.url = rewrite(c.attachment.url);
      const pid = patientOf(r);
      if (!opensRecord(a, pid)) return outcome(404, 'not-found', 'ressource introuvable');
      if (!recordOpen(pid)) return forbidden('ce dossier est fermé');
      if (a.kind === 'professional' && !gridAllows(a, DOC_CLASS[r.type?.coding?.[0]?.code] ?? '10')) return forbidden("grid: votre profession n'a pas accès à ce type de document");
      const old = replacedIdOf(r);
      if ((r.relatesTo ?? []).some((x) => x?.code === 'replaces') && !old) return outcome(422, 'business-rule', 'relatesTo replaces doit nommer un DocumentReference/{id}');
      if (old) {
        const prev = store.get('DocumentReference').get(old);
        if (!prev || patientOf(prev) !== pid || !documentVisible(a, pid, prev).allow || (prev.status ?? 'current') !== 'current') {
          return outcome(422, 'business-rule', 'le document remplacé doit être un document en vigueur du même dossier');
        }
        if (docAuthors.get(old)?.author !== a.id) return forbidden('not-author: seul son auteur remplace un document');
        supersede.push(prev);
      }
      step.pid = pid;
    } else {
      r.securityContext = { reference: rewrite(r.securityContext?.reference ?? '') };
      const doc = /^DocumentReference\/(.+)$/.exec(r.securityContext.reference)?.[1];
      const owner = plan.find((x) => x.kind === 'create' && x.id === doc);
      if (!owner) return outcome(422, 'business-rule', 'un Binary doit nommer son document (securityContext)');
      const bytes = Buffer.from(String(r.data ?? ''), 'base64');
      if (!bytes.length) return invalid('contenu vide', 'Binary.data');
      if (bytes.length > (UPLOAD_LIMIT[a.kind] ?? 0)) return outcome(413, 'too-costly', 'fichier trop volumineux');
      const start = STARTS[r.contentType];
      const textual = r.contentType === 'text/plain' && !/^\s*</.test(bytes.toString('latin1', 0, 64));
      if (!(start && bytes.toString('latin1', 0, start.length) === start) && !textual) return outcome(415, 'not-supported', "ce type de fichier n'est pas accepté, ou le contenu ne correspond pas à son type");
      step.bytes = bytes;
      step.doc = doc;
    }
  }
  // Everything holds: write.
  for (const step of plan) {
    if (step.kind === 'delete') {
      if (step.type === 'DocumentReference') store.get('DocumentReference').delete(step.id);
      else binaries.delete(step.id);
      out.push({ response: { status: '204 No Content' } });
      continue;
    }
    if (step.resource.resourceType === 'DocumentReference') {
      const r = { ...step.resource, id: step.id, meta: { versionId: '1', lastUpdated: new Date().toISOString() } };
      store.get('DocumentReference').set(step.id, r);
      docAuthors.set(step.id, { author: a.id, kind: a.kind });
      logAccess(step.pid, a, 'create', { resource_type: 'DocumentReference', resource_id: step.id, category: docCategory(r), basis: a.kind === 'patient' ? 'self' : 'authorised' });
    } else {
      const ownerPid = patientOf(plan.find((x) => x.id === step.doc).resource);
      binaries.set(step.id, { pid: ownerPid, doc: step.doc, contentType: step.resource.contentType, bytes: step.bytes });
    }
    out.push({ response: { status: '201 Created', location: `${step.resource.resourceType}/${step.id}/_history/1` } });
  }
  for (const prev of supersede) {
    prev.status = 'superseded';
    bumpVersion(prev);
  }
  return json(200, { resourceType: 'Bundle', type: 'transaction-response', entry: out });
}

async function documentRoutes(req, url) {
  const p = url.pathname.replace(/\/+$/, '');
  const list = /^\/records\/([^/]+)\/documents$/.exec(p);
  const retract = /^\/records\/([^/]+)\/documents\/([^/]+)\/retract$/.exec(p);
  const bin = /^\/fhir\/Binary\/([^/]+)$/.exec(p);
  const tx = p === '/fhir' && req.method === 'POST';
  if (!list && !retract && !(bin && req.method === 'GET') && !tx) return undefined;
  const who = authenticate(req);
  if (who.error) return who.error;
  const a = who.account;
  if (tx) {
    const body = await readLargeBody(req, 32 * 1024 * 1024);
    if (body.tooLarge) return outcome(413, 'too-costly', 'corps de requête trop volumineux');
    if (body.bad) return invalid('corps JSON invalide');
    return documentTransaction(a, body.value);
  }
  if (bin) {
    const b = binaries.get(decodeURIComponent(bin[1]));
    const doc = b && store.get('DocumentReference').get(b.doc);
    if (!b || !doc || !documentVisible(a, b.pid, doc).allow) return outcome(404, 'not-found', 'ressource introuvable');
    return [200, b.bytes, { 'Content-Type': b.contentType }];
  }
  if (list) {
    if (list[0] && req.method !== 'GET') return outcome(405, 'not-supported', `Method ${req.method} is not supported`);
    const pid = decodeURIComponent(list[1]);
    if (!opensRecord(a, pid)) {
      if (a.kind === 'professional' && recordExists(pid)) professionalFhir(a, pid, 'Patient', false);
      return outcome(404, 'not-found', 'ressource introuvable');
    }
    let withheld = false;
    const visible = documentsOf(pid).filter((r) => {
      const v = documentVisible(a, pid, r);
      if (!v.allow) withheld = true;
      return v.allow;
    });
    if (a.kind === 'professional') logAccess(pid, a, 'read', { resource_type: 'DocumentReference', category: '10', basis: decide(a, pid).basis, count: visible.length });
    return json(200, {
      documents: documentItems(pid, a, visible),
      withheld: withheld && a.kind === 'professional',
      can_deposit: recordOpen(pid),
    });
  }
  // Retraction.
  if (req.method !== 'POST') return outcome(405, 'not-supported', `Method ${req.method} is not supported`);
  const pid = decodeURIComponent(retract[1]);
  const r = store.get('DocumentReference').get(decodeURIComponent(retract[2]));
  if (!r || patientOf(r) !== pid || !opensRecord(a, pid) || !documentVisible(a, pid, r).allow) return outcome(404, 'not-found', 'ressource introuvable');
  if (docAuthors.get(r.id)?.author !== a.id) return forbidden('not-author: seul son auteur retire un document');
  const changed = r.status !== 'entered-in-error';
  if (changed) {
    // A current replacement, retracted, gives back the document it replaced (RestoreReplaced).
    const prev = r.status === 'current' ? store.get('DocumentReference').get(replacedIdOf(r)) : undefined;
    if (prev && prev.status === 'superseded' && patientOf(prev) === pid) {
      prev.status = 'current';
      bumpVersion(prev);
    }
    r.status = 'entered-in-error';
    bumpVersion(r);
  }
  return json(200, { id: r.id, version: Number(r.meta?.versionId ?? 1), changed });
}

async function documentHandler(req, res, url) {
  let result;
  try {
    result = await documentRoutes(req, url);
  } catch (err) {
    console.error('mock-server:', err);
    result = outcome(500, 'exception', 'erreur interne du serveur');
  }
  if (!result) return false;
  const [status, payload, headers = {}] = result;
  if (process.env.MOCK_LOG) console.log(req.method, url.pathname, status);
  if (Buffer.isBuffer(payload)) {
    send(res, status, headers['Content-Type'], payload, {
      'Cache-Control': 'no-store', 'Content-Length': String(payload.length), 'Content-Disposition': 'attachment',
      'Content-Security-Policy': "sandbox; default-src 'none'",
    });
    return true;
  }
  const type = url.pathname.startsWith('/records/') && payload?.resourceType !== 'OperationOutcome' ? 'application/json; charset=utf-8' : FHIR_JSON;
  send(res, status, type, JSON.stringify(payload), { 'Cache-Control': 'no-store' });
  return true;
}

async function profileHandler(req, res, url) {
  let result;
  try {
    result = await profileRoutes(req, url);
  } catch (err) {
    console.error('mock-server:', err);
    result = outcome(500, 'exception', 'erreur interne du serveur');
  }
  if (!result) return false;
  const [status, payload, headers = {}] = result;
  const extra = headers;
  if (process.env.MOCK_LOG) console.log(req.method, url.pathname, status);
  const reply = () => {
    if (status === 204) {
      res.writeHead(204, { 'Content-Security-Policy': CSP, 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer', 'Cache-Control': 'no-store', ...extra });
      res.end();
      return;
    }
    const type = url.pathname.startsWith('/records/') && payload?.resourceType !== 'OperationOutcome' ? 'application/json; charset=utf-8' : FHIR_JSON;
    send(res, status, type, JSON.stringify(payload), { 'Cache-Control': 'no-store', ...extra });
  };
  if (DELAY > 0) setTimeout(reply, DELAY);
  else reply();
  return true;
}

/** Marie Martin's record: entries by Dr Paul Durand and from the insurer; Léa's measurements. */
function seedProfile() {
  const marie = accounts.get('acc-marie-martin');
  const paul = accounts.get('acc-paul-durand');
  const pid = marie?.patient_id;
  const add = (r, author, kind) => {
    store.get(r.resourceType).set(r.id, r);
    if (author || kind) setAuthor(r, author, kind);
    return r;
  };
  const vital = [{ coding: [{ system: OBS_CAT_SYS, code: 'vital-signs', display: 'Vital Signs' }] }];
  const obs = (id, subject, date, code, text, value, unit) => ({
    resourceType: 'Observation', id, status: 'final', category: vital, subject: { reference: `Patient/${subject}` }, effectiveDateTime: date,
    code: { coding: [{ system: LOINC_SYS, code }], text }, valueQuantity: { value, unit, system: 'http://unitsofmeasure.org', code: unit },
  });
  const bp = (id, subject, date, systolic, diastolic) => ({
    resourceType: 'Observation', id, status: 'final', category: vital, subject: { reference: `Patient/${subject}` }, effectiveDateTime: date,
    code: { coding: [{ system: LOINC_SYS, code: '85354-9' }], text: 'Tension artérielle' },
    component: [
      { code: { coding: [{ system: LOINC_SYS, code: '8480-6' }] }, valueQuantity: { value: systolic, unit: 'mm[Hg]', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } },
      { code: { coding: [{ system: LOINC_SYS, code: '8462-4' }] }, valueQuantity: { value: diastolic, unit: 'mm[Hg]', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } },
    ],
  });
  if (pid && paul) {
    add({
      resourceType: 'AllergyIntolerance', id: 'mock-allergie-penicilline', patient: { reference: `Patient/${pid}` },
      clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }] },
      code: { text: 'Pénicilline' }, criticality: 'high', recordedDate: '2019-06-12', reaction: [{ manifestation: [{ text: 'Urticaire géante' }] }],
    }, paul);
    add(obs('mock-marie-taille', pid, '2024-01-15', '8302-2', 'Taille', 168, 'cm'), paul);
    add(obs('mock-marie-poids-1', pid, '2024-01-15', '29463-7', 'Poids', 64, 'kg'), paul);
    add(obs('mock-marie-poids-2', pid, '2024-09-10', '29463-7', 'Poids', 65.2, 'kg'), paul);
    add(obs('mock-marie-poids-3', pid, '2025-04-02', '29463-7', 'Poids', 66.1, 'kg'), paul);
    add(bp('mock-marie-ta-1', pid, '2024-01-15', 128, 82), paul);
    add(bp('mock-marie-ta-2', pid, '2024-09-10', 124, 80), paul);
    add(bp('mock-marie-ta-3', pid, '2025-04-02', 121, 78), paul);
    add({
      resourceType: 'MedicationDispense', id: 'mock-delivrance-1', status: 'completed', subject: { reference: `Patient/${pid}` },
      medicationCodeableConcept: { text: 'Amoxicilline 1 g, comprimé' }, quantity: { value: 6, unit: 'comprimés' }, whenHandedOver: '2025-11-03',
      dosageInstruction: [{ text: '1 comprimé matin et soir pendant 3 jours' }],
    }, undefined, 'insurer');
    add({
      resourceType: 'Encounter', id: 'mock-sejour-1', status: 'finished', subject: { reference: `Patient/${pid}` },
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IMP', display: 'inpatient encounter' },
      period: { start: '2022-02-10', end: '2022-02-13' }, serviceProvider: { display: 'Clinique du Parc, Lyon' }, reasonCode: [{ text: 'Appendicite' }],
    }, undefined, 'insurer');
  }
  const lea = store.get('Patient').get('demo-enfant');
  if (lea) {
    const weight = store.get('Observation').get('demo-enfant-poids');
    if (weight) Object.assign(weight, { category: vital, code: { coding: [{ system: LOINC_SYS, code: '29463-7' }], text: 'Poids' } });
    add(obs('demo-enfant-taille', 'demo-enfant', '2024-09-16', '8302-2', 'Taille', 128, 'cm'));
  }
}

// ---------- Documents' content: POST /fhir (transaction), GET /fhir/Binary/{id} ----------
// Just enough of docs/DOCUMENTS.md for the portal's deposit (api/documents.ts: one transaction
// Bundle with the DocumentReference and its Binary) and the viewer (the raw bytes), so that
// message attachments can be deposited and opened. The DMP class comes from the type, as
// src/access/document_classes.json says; a patient's deposit is class 90.
/** id → { contentType, data: Buffer, docId } */
const DOC_CLASSES = (() => {
  try {
    const table = JSON.parse(fs.readFileSync(path.join(repo, 'src', 'access', 'document_classes.json'), 'utf8'));
    return new Map(table.types.map((x) => [x.code, x.class]));
  } catch {
    return new Map([['57833-6', '42'], ['18748-4', '31']]);
  }
})();

function docClass(r) {
  if (docAuthors.get(r.id)?.kind === 'patient') return '90';
  return DOC_CLASSES.get(r.type?.coding?.[0]?.code) ?? '10';
}

function readRaw(req, limit = 8 * 1024 * 1024) {
  return new Promise((resolve) => {
    let size = 0;
    const chunks = [];
    req.on('data', (c) => {
      size += c.length;
      if (size <= limit) chunks.push(c);
    });
    req.on('end', () => resolve(size > limit ? { tooLarge: true } : { text: Buffer.concat(chunks).toString('utf8') }));
  });
}

/** Whether `a` may read this record's document (the holder side always; a professional per decide and masking). */
function mayReadDoc(a, pid, docId) {
  const doc = store.get('DocumentReference').get(docId);
  if (!doc || patientOf(doc) !== pid) return false;
  if (a.kind === 'patient') return !!recordFor(a, pid);
  if (a.kind !== 'professional') return false;
  const d = decide(a, pid);
  if (!d.allow) return false;
  return d.seesMasked || !maskedDocs.has(`${pid}|DocumentReference/${docId}`);
}

/** The content of a document, for the access API's list (binary_id, content_type, size). */
function contentOf(docId) {
  for (const [id, b] of binaries) if (b.doc === docId) return { binary_id: id, content_type: b.contentType, size: b.bytes.length };
  return { binary_id: '', content_type: '', size: 0 };
}

// ---------- Messaging: /messages (docs/MESSAGING.md) ----------
// Threads between a record's holder side and one professional, in memory. Professionals
// start threads (the holder side gets 403); a professional sees only their own threads, and
// needs access to the record (a blocked one is refused with 403); the holder side reads the
// threads of the records they act for. Read marks and archiving are per person; read_at is
// the other side's first read. Attachments must be documents of the record the sender may
// read (else 422). Marie Martin has two threads with Paul Durand (médecin): one unread with
// a lab report attached and an attachment that is no longer available, one answered.
const SUBJECT_MAX = 200;
const TEXT_MAX = 10_000;
/** id → { id, pid, pro, created_at, last_at, subject, messages: [...], marks: Map(account → { read_seq, archived }) } */
const threads = new Map();

const chars = (s) => [...String(s)].length;
const sideOf = (th, a) => (a.id === th.pro ? 'professional' : 'patient');

function patientName(pid) {
  const who = holderOf(pid);
  if (who) return displayName(who);
  const n = store.get('Patient').get(pid)?.name?.[0];
  return n ? `${(n.given ?? []).join(' ')} ${n.family ?? ''}`.trim() : pid;
}

function markOf(th, a) {
  let m = th.marks.get(a.id);
  if (!m) {
    m = { read_seq: 0, archived: false };
    th.marks.set(a.id, m);
  }
  return m;
}

function threadJson(th, a) {
  const side = sideOf(th, a);
  const pro = accounts.get(th.pro);
  const mark = th.marks.get(a.id) ?? { read_seq: 0, archived: false };
  const last = th.messages.at(-1);
  return {
    id: th.id, patient_id: th.pid, patient_name: patientName(th.pid),
    professional: { account_id: th.pro, name: pro ? displayName(pro) : '', profession: pro?.profession ?? '', profession_label: PROFESSIONS.find(([c]) => c === pro?.profession)?.[1] ?? '' },
    subject: th.subject, created_at: th.created_at, last_at: th.last_at, last_sender: last?.side ?? 'professional',
    messages: th.messages.length, unread: th.messages.filter((m) => m.side !== side && m.seq > mark.read_seq).length, archived: !!mark.archived,
  };
}

function attachmentJson(a, pid, docId) {
  if (!mayReadDoc(a, pid, docId)) return { available: false };
  const doc = store.get('DocumentReference').get(docId);
  const content = contentOf(docId);
  return {
    id: docId, available: true, title: doc.description || doc.content?.[0]?.attachment?.title || doc.type?.text || doc.type?.coding?.[0]?.display || '',
    category: docClass(doc), date: String(doc.date ?? '').slice(0, 10), binary_id: content.binary_id || null, content_type: content.content_type, size: content.size,
  };
}

function messageJson(th, m, a) {
  const sender = accounts.get(m.sender);
  return {
    id: m.id, seq: m.seq, sender: { account_id: m.sender, name: sender ? displayName(sender) : '', kind: m.side }, own: m.sender === a.id,
    text: m.text, created_at: m.created_at, read_at: m.read_at ?? null, attachments: m.attachments.map((id) => attachmentJson(a, th.pid, id)),
  };
}

/** Who may act on this thread: { ok } or { error }. */
function threadAccess(a, th) {
  if (a.kind === 'professional') {
    if (th.pro !== a.id) {
      if (relationOf(th.pid, a.id)) {
        logAccess(th.pid, a, 'message', { resource_type: 'Communication', outcome: 'deny', reason: 'not-author' });
        return { error: forbidden("not-author: ce fil est celui d'un autre professionnel") };
      }
      return { error: outcome(404, 'not-found', 'fil introuvable') };
    }
    const d = decide(a, th.pid);
    if (!d.allow) {
      logAccess(th.pid, a, 'message', { resource_type: 'Communication', outcome: 'deny', reason: d.reason, basis: d.basis });
      return { error: d.reason === 'blocked' ? forbidden('blocked: le titulaire du dossier vous a bloqué') : forbidden(`${d.reason}: vous n'avez plus accès à ce dossier`) };
    }
    return { ok: true, basis: d.basis };
  }
  if (a.kind === 'patient') {
    const rec = recordFor(a, th.pid);
    if (!rec) return { error: outcome(404, 'not-found', 'fil introuvable') };
    return { ok: true, basis: rec.relation === 'self' ? 'self' : rec.relation };
  }
  return { error: forbidden("les comptes opérateurs n'ont jamais accès aux messages") };
}

/** The text and attachments of a new message: { text, attachments } or { error }. */
function checkMessage(a, pid, b) {
  const text = typeof b.text === 'string' ? b.text : '';
  if (!text.trim()) return { error: invalid('le message est vide', 'text') };
  if (chars(text) > TEXT_MAX) return { error: invalid(`le message dépasse ${TEXT_MAX} caractères`, 'text') };
  const list = b.attachments ?? [];
  if (!Array.isArray(list) || list.some((x) => typeof x !== 'string')) return { error: invalid('attachments attend une liste d’identifiants', 'attachments') };
  if (list.length > 5) return { error: outcome(422, 'business-rule', 'au plus 5 pièces jointes par message') };
  for (const id of list) if (!mayReadDoc(a, pid, id)) return { error: outcome(422, 'business-rule', `pièce jointe ${String(id).slice(0, 40)} : pas un document de ce dossier que vous pouvez lire`) };
  return { text, attachments: [...list] };
}

function addMessage(th, sender, side, text, attachments, at = nowUs()) {
  const m = { id: crypto.randomUUID(), seq: th.messages.length + 1, sender: sender.id, side, text, attachments, created_at: at, read_at: null };
  th.messages.push(m);
  th.last_at = at;
  // The sender has read what they wrote; a message from one side brings the thread back for the other.
  markOf(th, sender).read_seq = m.seq;
  for (const [account, mark] of th.marks) if ((account === th.pro ? 'professional' : 'patient') !== side) mark.archived = false;
  return m;
}

/** Opening a thread marks it read for the caller, and the other side's messages get their read_at. */
function markRead(th, a) {
  const side = sideOf(th, a);
  const now = nowUs();
  for (const m of th.messages) if (m.side !== side && !m.read_at) m.read_at = now;
  markOf(th, a).read_seq = th.messages.length;
}

function notifyMessage(th, side) {
  // The template says "a new message", never what nor from whom (docs/MESSAGING.md).
  if (side !== 'professional') return;
  const holder = holderOf(th.pid);
  if (holder?.email_verified) deliver('email', holder.email, 'new_message', '', 'new message');
}

function messageRoute(req, url, b, a) {
  const p = url.pathname.replace(/\/+$/, '');
  const m = req.method;
  const q = url.searchParams;
  if (a.kind !== 'patient' && a.kind !== 'professional') return forbidden("les comptes opérateurs n'ont jamais accès aux messages");

  if (p === '/messages/threads' && m === 'GET') {
    const pid = q.get('patient') ?? '';
    const archived = q.get('archived') === '1';
    let list;
    if (a.kind === 'patient') {
      if (!pid) return invalid('patient est obligatoire : le dossier pour lequel vous agissez', 'patient');
      if (!recordFor(a, pid)) return outcome(404, 'not-found', 'dossier introuvable');
      list = [...threads.values()].filter((th) => th.pid === pid);
    } else {
      list = [...threads.values()].filter((th) => th.pro === a.id && (!pid || th.pid === pid));
    }
    return json(200, list.map((th) => threadJson(th, a)).filter((th) => th.archived === archived).sort((x, y) => y.last_at - x.last_at));
  }
  if (p === '/messages/unread' && m === 'GET') {
    const pid = q.get('patient') ?? '';
    let list;
    if (a.kind === 'patient') {
      if (!pid) return invalid('patient est obligatoire', 'patient');
      if (!recordFor(a, pid)) return outcome(404, 'not-found', 'dossier introuvable');
      list = [...threads.values()].filter((th) => th.pid === pid);
    } else {
      list = [...threads.values()].filter((th) => th.pro === a.id && (!pid || th.pid === pid));
    }
    return json(200, { unread: list.reduce((n, th) => n + threadJson(th, a).unread, 0) });
  }
  if (p === '/messages/threads' && m === 'POST') {
    if (a.kind !== 'professional') return forbidden('les professionnels écrivent en premier : un patient répond dans un fil existant');
    const pid = typeof b.patient === 'string' ? b.patient : '';
    if (!pid || !recordExists(pid)) return outcome(404, 'not-found', 'dossier introuvable');
    const d = decide(a, pid);
    if (!d.allow) {
      logAccess(pid, a, 'message', { resource_type: 'Communication', outcome: 'deny', reason: d.reason, basis: d.basis });
      if (!relationOf(pid, a.id)) return outcome(404, 'not-found', 'dossier introuvable');
      return d.reason === 'blocked' ? forbidden('blocked: le titulaire du dossier vous a bloqué') : forbidden(`${d.reason}: vous n'avez pas d'accès à ce dossier`);
    }
    const subject = typeof b.subject === 'string' ? b.subject.trim() : '';
    if (!subject) return invalid("l'objet est vide", 'subject');
    if (chars(subject) > SUBJECT_MAX) return invalid(`l'objet dépasse ${SUBJECT_MAX} caractères`, 'subject');
    const msg = checkMessage(a, pid, b);
    if (msg.error) return msg.error;
    const now = nowUs();
    const th = { id: crypto.randomUUID(), pid, pro: a.id, subject, created_at: now, last_at: now, messages: [], marks: new Map() };
    threads.set(th.id, th);
    addMessage(th, a, 'professional', msg.text, msg.attachments, now);
    logAccess(pid, a, 'message', { resource_type: 'Communication', basis: d.basis });
    notifyMessage(th, 'professional');
    return json(201, { ...threadJson(th, a), messages: th.messages.map((x) => messageJson(th, x, a)) });
  }
  const mt = /^\/messages\/threads\/([^/]+)(?:\/(messages|archive))?$/.exec(p);
  if (!mt) return outcome(404, 'not-found', `${m} ${p} n'existe pas`);
  const th = threads.get(decodeURIComponent(mt[1]));
  if (!th) return outcome(404, 'not-found', 'fil introuvable');
  const ok = threadAccess(a, th);
  if (ok.error) return ok.error;
  if (!mt[2] && m === 'GET') {
    markRead(th, a);
    logAccess(th.pid, a, 'read', { resource_type: 'Communication', basis: ok.basis });
    return json(200, { ...threadJson(th, a), messages: th.messages.map((x) => messageJson(th, x, a)) });
  }
  if (mt[2] === 'messages' && m === 'POST') {
    const msg = checkMessage(a, th.pid, b);
    if (msg.error) return msg.error;
    const side = sideOf(th, a);
    markRead(th, a);
    const created = addMessage(th, a, side, msg.text, msg.attachments);
    logAccess(th.pid, a, 'message', { resource_type: 'Communication', basis: ok.basis });
    notifyMessage(th, side);
    return json(201, messageJson(th, created, a));
  }
  if (mt[2] === 'archive' && m === 'PUT') {
    if (typeof b.archived !== 'boolean') return invalid('archived attend vrai ou faux', 'archived');
    markOf(th, a).archived = b.archived;
    return noContent();
  }
  return outcome(405, 'not-supported', `${m} ${p} n'est pas permis`);
}

function seedMessages() {
  const marie = accounts.get('acc-marie-martin');
  const paul = accounts.get('acc-paul-durand');
  const pid = marie?.patient_id;
  if (!pid || !paul) return;
  const day = 24 * 3600 * 1e6;
  // A lab report as a small PDF, deposited by Dr Durand.
  const pdf = Buffer.from('%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n');
  const docId = 'mock-bilan-sanguin';
  store.get('DocumentReference').set(docId, {
    resourceType: 'DocumentReference', id: docId, status: 'current', subject: { reference: `Patient/${pid}` }, date: '2026-01-12T09:00:00Z',
    type: { coding: [{ system: 'http://loinc.org', code: '11502-2', display: 'Laboratory report' }] }, description: 'Bilan sanguin du 12 janvier',
    author: [{ display: displayName(paul) }], content: [{ attachment: { contentType: 'application/pdf', url: 'Binary/mock-bilan-sanguin-pdf', size: pdf.length, title: 'Bilan sanguin du 12 janvier' } }],
  });
  binaries.set('mock-bilan-sanguin-pdf', { pid, doc: docId, contentType: 'application/pdf', bytes: pdf });
  docAuthors.set(docId, { author: paul.id, kind: 'professional' });
  const start = (subject, at) => {
    const th = { id: crypto.randomUUID(), pid, pro: paul.id, subject, created_at: at, last_at: at, messages: [], marks: new Map() };
    threads.set(th.id, th);
    return th;
  };
  const older = start('Rendez-vous de contrôle', nowUs() - 40 * day);
  addMessage(older, paul, 'professional', 'Bonjour Madame Martin,\nPensez à prendre rendez-vous pour le contrôle de tension dans un mois.\nBien cordialement,\nDr Durand', [], nowUs() - 40 * day);
  markRead(older, marie);
  older.messages[0].read_at = nowUs() - 39 * day;
  addMessage(older, marie, 'patient', 'Bonjour Docteur,\nC’est noté, j’appelle le cabinet demain.\nMerci !', [], nowUs() - 39 * day);
  markRead(older, paul);
  older.messages[1].read_at = nowUs() - 38 * day;
  const results = start('Résultats de prise de sang', nowUs() - 2 * day);
  addMessage(results, paul, 'professional', 'Bonjour Madame Martin,\nVos résultats sont arrivés : tout est normal.\nJe vous joins le compte rendu du laboratoire.', [docId, 'mock-document-supprime'], nowUs() - 2 * day);
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
seedAccounts();
seedAccess();
seedProfile();
seedMessages();

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (/^\/(auth|directory|admin|access|messages)(\/|$)/.test(url.pathname)) {
    void identity(req, res, url);
    return;
  }
  if (/^\/records\/[^/]+\/documents(\/|$)/.test(url.pathname) || (url.pathname === '/fhir' && req.method === 'POST') || /^\/fhir\/Binary\/[^/]+$/.test(url.pathname)) {
    void documentHandler(req, res, url).then((handled) => {
      if (handled) return;
      const [status, body] = fhir(req, url);
      send(res, status, FHIR_JSON, JSON.stringify(body));
    });
    return;
  }
  if (/^\/records\//.test(url.pathname) || (url.pathname.startsWith('/fhir/') && (req.method !== 'GET' || url.pathname.endsWith('/$summary')))) {
    void profileHandler(req, res, url).then((handled) => {
      if (handled) return;
      if (url.pathname.startsWith('/records/')) return send(res, 404, FHIR_JSON, JSON.stringify(outcome(404, 'not-found', `${req.method} ${url.pathname} n'existe pas`)[1]));
      const [status, body] = fhir(req, url);
      send(res, status, FHIR_JSON, JSON.stringify(body));
    });
    return;
  }
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
