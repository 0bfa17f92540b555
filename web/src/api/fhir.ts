// A small typed FHIR R4 client over fetch, shared by every page.
//
//   import { fhir } from './api/fhir';
//   const bundle = await fhir.search('Observation', { patient: id, _count: 20, _sort: '-date' });
//   const n = await fhir.count('Condition', { patient: id });
//   const p = await fhir.read('Patient', id);
//
// Errors surface as FhirError, carrying the HTTP status and the server's OperationOutcome
// (whose diagnostics the pages show), or status 0 for a network failure.
//
// The portal is authenticated by its session cookie (sent with `credentials: 'same-origin'`);
// a 401 means the session has ended: the shell is told (api/hooks.ts) and goes to the login
// page, keeping the path to come back to.

import type { Bundle, OperationOutcome, Resource, ResourceMap, ResourceType } from './fhir-types';
import { notifyUnauthorized } from './hooks';

export type * from './fhir-types';

export type SearchValue = string | number | boolean | undefined | null;
export type SearchParams = Record<string, SearchValue | SearchValue[]>;

export interface RequestOptions {
  signal?: AbortSignal;
}

export interface FhirClientOptions {
  /** Base URL of the FHIR endpoint, without trailing slash. Default "/fhir". */
  baseUrl?: string;
  /** Extra headers (e.g. Authorization) sent with every request. */
  headers?: Record<string, string>;
  /** fetch implementation (tests may inject one). */
  fetch?: typeof fetch;
  /** Called on a 401 answer (default: tell the shell through api/hooks.ts). */
  onUnauthorized?: () => void;
}

export const FHIR_JSON = 'application/fhir+json';

export class FhirError extends Error {
  /** HTTP status, or 0 when the server could not be reached / the answer was unreadable. */
  readonly status: number;
  /** The OperationOutcome the server returned, if any. */
  readonly outcome: OperationOutcome | undefined;
  /** Human-readable diagnostics extracted from the OperationOutcome (may be empty). */
  readonly diagnostics: string[];
  readonly kind: 'network' | 'http' | 'parse' | 'aborted';

  constructor(
    kind: FhirError['kind'],
    status: number,
    message: string,
    outcome?: OperationOutcome,
  ) {
    super(message);
    this.name = 'FhirError';
    this.kind = kind;
    this.status = status;
    this.outcome = outcome;
    this.diagnostics = outcome ? outcomeMessages(outcome) : [];
  }
}

/** The human messages of an OperationOutcome: diagnostics, else details.text / coding display. */
export function outcomeMessages(outcome: OperationOutcome): string[] {
  const out: string[] = [];
  for (const issue of outcome.issue ?? []) {
    const text =
      issue.diagnostics ?? issue.details?.text ?? issue.details?.coding?.[0]?.display ?? issue.code;
    if (text) out.push(text);
  }
  return out;
}

export function isAbort(err: unknown): boolean {
  return (
    (err instanceof FhirError && err.kind === 'aborted') ||
    (err instanceof DOMException && err.name === 'AbortError')
  );
}

/** Encode search parameters; arrays repeat the parameter (AND), undefined/null are skipped. */
export function toQuery(params: SearchParams): string {
  const q = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    const values = Array.isArray(value) ? value : [value];
    for (const v of values) {
      if (v === undefined || v === null) continue;
      q.append(name, String(v));
    }
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** The resources of a searchset Bundle that matched (includes and outcomes left out). */
export function entries<T extends Resource>(bundle: Bundle<T>): T[] {
  const out: T[] = [];
  for (const e of bundle.entry ?? []) {
    if (!e.resource) continue;
    if (e.search?.mode && e.search.mode !== 'match') continue;
    out.push(e.resource);
  }
  return out;
}

export class FhirClient {
  readonly baseUrl: string;
  private readonly headers: Record<string, string>;
  private readonly fetchImpl: typeof fetch;
  private readonly unauthorized: () => void;

  constructor(options: FhirClientOptions = {}) {
    this.baseUrl = (options.baseUrl ?? '/fhir').replace(/\/+$/, '');
    this.headers = options.headers ?? {};
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.unauthorized = options.onUnauthorized ?? notifyUnauthorized;
  }

  /** GET [base]/[type]/[id] */
  read<K extends ResourceType>(type: K, id: string, opts: RequestOptions = {}): Promise<ResourceMap[K]> {
    return this.get<ResourceMap[K]>(`/${type}/${encodeURIComponent(id)}`, opts);
  }

  /** GET [base]/[type]?params → searchset Bundle */
  search<K extends ResourceType>(
    type: K,
    params: SearchParams = {},
    opts: RequestOptions = {},
  ): Promise<Bundle<ResourceMap[K]>> {
    return this.get<Bundle<ResourceMap[K]>>(`/${type}${toQuery(params)}`, opts);
  }

  /** GET [base]/[type]?params&_summary=count → Bundle.total (undefined if the server omits it). */
  async count(type: ResourceType, params: SearchParams = {}, opts: RequestOptions = {}): Promise<number | undefined> {
    const bundle = await this.get<Bundle>(`/${type}${toQuery({ ...params, _summary: 'count' })}`, opts);
    return typeof bundle.total === 'number' ? bundle.total : undefined;
  }

  /** Follow a Bundle's link (e.g. "next") — the URL is the server's, used as given. */
  async page<T extends Resource>(bundle: Bundle<T>, relation = 'next', opts: RequestOptions = {}): Promise<Bundle<T> | undefined> {
    const link = bundle.link?.find((l) => l.relation === relation);
    if (!link) return undefined;
    return this.request<Bundle<T>>(link.url, opts);
  }

  private get<T>(path: string, opts: RequestOptions): Promise<T> {
    return this.request<T>(`${this.baseUrl}${path}`, opts);
  }

  private async request<T>(url: string, opts: RequestOptions): Promise<T> {
    let res: Response;
    try {
      res = await this.fetchImpl(url, {
        method: 'GET',
        headers: { Accept: FHIR_JSON, ...this.headers },
        signal: opts.signal,
        credentials: 'same-origin',
      });
    } catch (err) {
      if (opts.signal?.aborted) throw new FhirError('aborted', 0, 'aborted');
      throw new FhirError('network', 0, err instanceof Error ? err.message : String(err));
    }
    let body: unknown;
    const text = await res.text().catch(() => '');
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
    }
    const outcome = isOutcome(body) ? body : undefined;
    if (!res.ok) {
      if (res.status === 401) this.unauthorized();
      throw new FhirError('http', res.status, `HTTP ${res.status} ${res.statusText}`.trim(), outcome);
    }
    if (body === undefined || typeof body !== 'object' || body === null) {
      throw new FhirError('parse', res.status, 'unreadable response');
    }
    return body as T;
  }
}

export function isOutcome(body: unknown): body is OperationOutcome {
  return (
    typeof body === 'object' &&
    body !== null &&
    (body as { resourceType?: unknown }).resourceType === 'OperationOutcome'
  );
}

/** The portal's client: same origin, "/fhir". */
export const fhir = new FhirClient();
