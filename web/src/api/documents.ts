// A record's documents: their content (GET /fhir/Binary/{id}, the raw bytes) and the deposit
// of a new one, over FHIR (docs/DOCUMENTS.md). The list itself comes from the access API
// (access.documents), which says for each document what the reader may do with it.
//
//   const blob = await documents.content(binaryId, signal);
//   const id = await documents.deposit(pid, file, { type: 'prescription', title, date });
//
// Errors are FhirError (api/fhir.ts), with the server's diagnostics.
import { FhirError, FHIR_JSON, type OperationOutcome } from './fhir';
import { csrfHeaders } from './auth';
import { notifyUnauthorized } from './hooks';

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
}

export const documents = {
  /** The raw content, as the server serves it (sniffed type, no metadata). */
  async content(binaryId: string, signal?: AbortSignal): Promise<Blob> {
    const res = await send(`/fhir/Binary/${encodeURIComponent(binaryId)}`, { signal, headers: { Accept: '*/*' } });
    return res.blob();
  },

  /**
   * Deposits a file: its bytes as a Binary of the record, then the DocumentReference that
   * describes it, then the Binary is tied to that document (so masking the document masks
   * its content too). A failure after the first step removes the Binary again.
   */
  async deposit(pid: string, file: File, meta: DepositMeta, onProgress?: (step: 1 | 2 | 3) => void): Promise<string> {
    onProgress?.(1);
    const res = await send('/fhir/Binary', {
      method: 'POST',
      headers: { Accept: FHIR_JSON, 'Content-Type': file.type || 'application/octet-stream', 'X-Security-Context': `Patient/${pid}`, ...csrfHeaders() },
      body: file,
    });
    const binary = (await res.json()) as { id: string; contentType: string };
    try {
      onProgress?.(2);
      const type = DEPOSIT_TYPES.find((d) => d.key === meta.type) ?? DEPOSIT_TYPES[4];
      const doc = await json<{ id: string }>('/fhir/DocumentReference', 'POST', {
        resourceType: 'DocumentReference',
        status: 'current',
        type: { coding: [{ system: type.system, code: type.code, display: type.display }] },
        subject: { reference: `Patient/${pid}` },
        date: meta.date ? `${meta.date}T12:00:00Z` : new Date().toISOString(),
        description: meta.title,
        content: [{ attachment: { contentType: binary.contentType, url: `Binary/${binary.id}`, size: file.size, title: meta.title } }],
      });
      onProgress?.(3);
      await json('/fhir/Binary/' + encodeURIComponent(binary.id), 'PUT', {
        resourceType: 'Binary',
        id: binary.id,
        contentType: binary.contentType,
        securityContext: { reference: `DocumentReference/${doc.id}` },
      });
      return doc.id;
    } catch (err) {
      await send(`/fhir/Binary/${encodeURIComponent(binary.id)}`, { method: 'DELETE', headers: csrfHeaders() }).catch(() => undefined);
      throw err;
    }
  },

  /** Deletes a document the person deposited, and its content. */
  async remove(docId: string, binaryId?: string): Promise<void> {
    await send(`/fhir/DocumentReference/${encodeURIComponent(docId)}`, { method: 'DELETE', headers: csrfHeaders() });
    if (binaryId) await send(`/fhir/Binary/${encodeURIComponent(binaryId)}`, { method: 'DELETE', headers: csrfHeaders() });
  },
};
