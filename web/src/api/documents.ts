// A record's documents: their content (GET /fhir/Binary/{id}, the raw bytes) and the deposit
// of a new one, over FHIR (docs/DOCUMENTS.md). The holder's list comes from the access API
// (access.documents, with the masking switches); everybody's from GET /records/{pid}/documents
// (documents.list: what this reader may see, and whether something was left out).
//
//   const blob = await documents.content(binaryId, signal);
//   const id = await documents.deposit(pid, file, { type: 'prescription', title, date });
//   await documents.deposit(pid, file, { ..., replaces: oldId });   // a new version
//   await documents.retract(pid, id);                               // its author withdraws it
//
// A deposit is one transaction Bundle: the document and its bytes are stored together or not
// at all. Errors are FhirError (api/fhir.ts), with the server's diagnostics.
import { FhirError, FHIR_JSON, type OperationOutcome } from './fhir';
import { csrfHeaders } from './auth';
import { notifyUnauthorized } from './hooks';
import type { RecordDocument } from './access';

/** A record's documents as GET /records/{pid}/documents gives them. */
export interface DocumentList {
  documents: RecordDocument[];
  /** Some documents are not shown to this reader (professionals only; never which). */
  withheld: boolean;
  /** The reader may deposit a document in this record. */
  can_deposit: boolean;
}

/** The document types a person may deposit: LOINC codes, as clinical software sends them. */
export const DEPOSIT_TYPES = [
  { key: 'report', system: 'http://loinc.org', code: '11488-4', display: 'Consult note' },
  { key: 'prescription', system: 'http://loinc.org', code: '57833-6', display: 'Prescription for medication' },
  { key: 'lab', system: 'http://loinc.org', code: '11502-2', display: 'Laboratory report' },
  { key: 'imaging', system: 'http://loinc.org', code: '18748-4', display: 'Diagnostic imaging study' },
  { key: 'other', system: 'http://loinc.org', code: '51851-4', display: 'Administrative note' },
] as const;
export type DepositType = (typeof DEPOSIT_TYPES)[number]['key'];

/** What the server accepts (docs/DOCUMENTS.md); the browser's guess decides the declared type. */
export const ACCEPTED_TYPES = ['application/pdf', 'image/jpeg', 'image/png', 'image/tiff', 'text/plain', 'application/rtf', 'text/xml', 'application/xml'];

async function fail(res: Response): Promise<never> {
  if (res.status === 401) notifyUnauthorized();
  let outcome: OperationOutcome | undefined;
  try {
    const body = (await res.json()) as { resourceType?: string };
    if (body?.resourceType === 'OperationOutcome') outcome = body as OperationOutcome;
  } catch {
    /* not JSON */
  }
  throw new FhirError('http', res.status, `HTTP ${res.status}`, outcome);
}

async function send(path: string, init: RequestInit): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(path, { credentials: 'same-origin', ...init });
  } catch (err) {
    if (init.signal?.aborted) throw new FhirError('aborted', 0, 'aborted');
    throw new FhirError('network', 0, err instanceof Error ? err.message : String(err));
  }
  if (!res.ok) await fail(res);
  return res;
}

async function json<T>(path: string, method: string, body: unknown): Promise<T> {
  const res = await send(path, {
    method,
    headers: { Accept: FHIR_JSON, 'Content-Type': FHIR_JSON, ...csrfHeaders() },
    body: JSON.stringify(body),
  });
  return (await res.json()) as T;
}

export interface DepositMeta {
  type: DepositType;
  title: string;
  /** YYYY-MM-DD */
  date: string;
  /** The id of the document this one replaces (a new version: the old one is superseded). */
  replaces?: string;
}

/** The file's bytes in base64 (what a Binary's `data` holds). */
async function base64Of(file: File): Promise<string> {
  const url = await new Promise<string>((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(new FhirError('network', 0, 'the file could not be read'));
    reader.readAsDataURL(file);
  });
  return url.slice(url.indexOf(',') + 1);
}

export const documents = {
  /** The record's documents as this reader may see them (404: a record they may not open). */
  async list(pid: string, signal?: AbortSignal): Promise<DocumentList> {
    const res = await send(`/records/${encodeURIComponent(pid)}/documents`, { signal, headers: { Accept: 'application/json' } });
    return (await res.json()) as DocumentList;
  },

  /** Its author withdraws a document ("entered-in-error"): gone from the lists, kept in history. */
  async retract(pid: string, docId: string): Promise<void> {
    await send(`/records/${encodeURIComponent(pid)}/documents/${encodeURIComponent(docId)}/retract`, {
      method: 'POST',
      headers: { Accept: 'application/json', ...csrfHeaders() },
    });
  },

  /** The raw content, as the server serves it (sniffed type, no metadata). */
  async content(binaryId: string, signal?: AbortSignal): Promise<Blob> {
    const res = await send(`/fhir/Binary/${encodeURIComponent(binaryId)}`, { signal, headers: { Accept: '*/*' } });
    return res.blob();
  },

  /**
   * Deposits a file in one FHIR transaction (docs/DOCUMENTS.md): the Binary with its bytes and
   * the DocumentReference that describes it, tied to each other by urn:uuid (the Binary's
   * securityContext names the document, so masking the document masks its content). The
   * server stores both or neither: a refused file (type, size) leaves nothing behind.
   */
  async deposit(pid: string, file: File, meta: DepositMeta, onProgress?: (step: 1 | 2 | 3) => void): Promise<string> {
    onProgress?.(1);
    const data = await base64Of(file);
    onProgress?.(2);
    const type = DEPOSIT_TYPES.find((d) => d.key === meta.type) ?? DEPOSIT_TYPES[4];
    const contentType = file.type || 'application/octet-stream';
    const binaryUrn = `urn:uuid:${crypto.randomUUID()}`;
    const docUrn = `urn:uuid:${crypto.randomUUID()}`;
    const answer = await json<{ entry?: { response?: { location?: string } }[] }>('/fhir', 'POST', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: docUrn,
          resource: {
            resourceType: 'DocumentReference',
            status: 'current',
            type: { coding: [{ system: type.system, code: type.code, display: type.display }] },
            subject: { reference: `Patient/${pid}` },
            date: meta.date ? `${meta.date}T12:00:00Z` : new Date().toISOString(),
            description: meta.title,
            ...(meta.replaces ? { relatesTo: [{ code: 'replaces', target: { reference: `DocumentReference/${meta.replaces}` } }] } : {}),
            content: [{ attachment: { contentType, url: binaryUrn, size: file.size, title: meta.title } }],
          },
          request: { method: 'POST', url: 'DocumentReference' },
        },
        {
          fullUrl: binaryUrn,
          resource: { resourceType: 'Binary', contentType, securityContext: { reference: docUrn }, data },
          request: { method: 'POST', url: 'Binary' },
        },
      ],
    });
    onProgress?.(3);
    const location = answer.entry?.[0]?.response?.location ?? '';
    const id = location.split('/')[1];
    if (!id) throw new FhirError('http', 500, 'the server did not say where the document is');
    return id;
  },

  /** Deletes a document the person deposited, and its content, in one transaction. */
  async remove(docId: string, binaryId?: string): Promise<void> {
    const entry = [{ request: { method: 'DELETE', url: `DocumentReference/${encodeURIComponent(docId)}` } }];
    if (binaryId) entry.push({ request: { method: 'DELETE', url: `Binary/${encodeURIComponent(binaryId)}` } });
    await json('/fhir', 'POST', { resourceType: 'Bundle', type: 'transaction', entry });
  },
};
