// Secure messaging (docs/MESSAGING.md): threads between a record's holder side (the holder, a
// legal representative, a caregiver) and one professional. JSON over the same transport as
// the access API (api/auth.ts: session cookie, X-CSRF-Token on writes, AuthError with the
// server's OperationOutcome).
//
//   import { messages } from './api/messages';
//   const threads = await messages.threads({ patient: pid });           // the holder side
//   const thread = await messages.thread(id);                            // marks it read
//   await messages.reply(id, 'Merci docteur', [docRefId]);
//   await messages.start({ patient: pid, subject, text, attachments }); // professionals only
//
// Attachments are DocumentReference ids of the record: deposit the file first
// (documents.deposit, api/documents.ts), then send the message naming it.
// Times are microseconds since the epoch. Subjects and texts are TEXT: show them with
// textContent (never as HTML).
import { call, query, type Micros } from './auth';

export type { Micros } from './auth';

/** Limits of the contract (docs/MESSAGING.md, "Limits"). */
export const SUBJECT_MAX = 200;
export const TEXT_MAX = 10_000;
export const ATTACHMENTS_MAX = 5;

export type Side = 'professional' | 'patient';

export interface ThreadProfessional {
  account_id: string;
  name: string;
  /** Profession code ("medecin"). */
  profession?: string;
  profession_label?: string;
}

/** A thread as listed (GET /messages/threads). */
export interface ThreadSummary {
  id: string;
  patient_id: string;
  patient_name?: string;
  professional: ThreadProfessional;
  subject: string;
  created_at: Micros;
  last_at: Micros;
  last_sender: Side | string;
  /** How many messages the thread holds. */
  messages: number;
  /** Messages from the other side the caller has not read. */
  unread: number;
  archived: boolean;
}

/** A readable attachment: a document of the record. */
export interface AvailableAttachment {
  available: true;
  id: string;
  title?: string;
  /** DMP class code ("42" …). */
  category?: string;
  date?: string;
  /** Its content: GET /fhir/Binary/{binary_id}. */
  binary_id?: string;
  content_type?: string;
  size?: number;
}

/** An attachment the reader may not read (masked, hidden, refused, deleted): no id, no title. */
export interface UnavailableAttachment {
  available: false;
}

export type Attachment = AvailableAttachment | UnavailableAttachment;

export interface Message {
  id: string;
  seq: number;
  sender: { account_id: string; name: string; kind: Side | string };
  /** The caller sent it. */
  own: boolean;
  text: string;
  created_at: Micros;
  /** When the other side first read it (a read receipt); null when not yet. */
  read_at: Micros | null;
  attachments: Attachment[];
}

/** GET /messages/threads/{id}: the thread, its messages oldest first (and marked read). */
export interface ThreadWithMessages extends Omit<ThreadSummary, 'messages'> {
  /** Oldest first. */
  messages: Message[];
}

export interface NewThread {
  patient: string;
  subject: string;
  text: string;
  attachments?: string[];
}

const enc = encodeURIComponent;

export const messages = {
  /**
   * The caller's threads: the holder side names the record (`patient` is required for them);
   * professionals get theirs across records, `patient` filters. `archived` lists the caller's
   * archived threads instead of the others.
   */
  threads: (o: { patient?: string; archived?: boolean } = {}, signal?: AbortSignal) =>
    call<ThreadSummary[]>('GET', `/messages/threads${query({ patient: o.patient, archived: o.archived ? '1' : '0' })}`, undefined, { signal }),

  /** Messages from the other side the caller has not read (in that record for the holder side). */
  unread: (patient?: string, signal?: AbortSignal) =>
    // A badge in the background: a 401 here does not take the person to the login page
    // (what they do next will, if the session really ended).
    call<{ unread: number }>('GET', `/messages/unread${query({ patient })}`, undefined, { signal, public: true }).then((a) => a?.unread ?? 0),

  /** A thread with its messages; reading marks them read for the caller. */
  thread: (id: string, signal?: AbortSignal) => call<ThreadWithMessages>('GET', `/messages/threads/${enc(id)}`, undefined, { signal }),

  /** Starts a thread (professionals; 403 for the holder side and blocked professionals). */
  start: (t: NewThread) => call<ThreadWithMessages>('POST', '/messages/threads', { ...t, attachments: t.attachments ?? [] }),

  /** Replies in a thread; answers the message. */
  reply: (id: string, text: string, attachments: string[] = []) =>
    call<Message>('POST', `/messages/threads/${enc(id)}/messages`, { text, attachments }),

  /** Archives (or brings back) the thread in the caller's own list. */
  archive: (id: string, archived: boolean) => call<void>('PUT', `/messages/threads/${enc(id)}/archive`, { archived }),
};
