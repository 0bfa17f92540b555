// Secure messaging (docs/MESSAGING.md), like a mail client:
//   "/patient/messagerie"          the record's threads (the record the person acts for),
//                                  unread in bold with a count, "Archivés" to see the others
//   "/patient/messagerie/:id"      a thread: messages oldest first, read receipts on one's own,
//                                  attachments as documents, reply, archive
//   "/pro/messagerie"              the professional's threads across patients
//   "/pro/messagerie/:id"          idem, for the professional
//   "/pro/patients/:id/message"    a new message to a patient (professionals start threads)
// Subjects and texts are TEXT: set with textContent (dom.ts never uses innerHTML) and shown
// with `white-space: pre-wrap`. An attachment is deposited first (documents.deposit, one
// transaction Bundle), then the message names its DocumentReference id.
import { h, icon, ICONS, mount, type Child } from '../dom';
import { formatDate, formatMicros, formatNumber, isoMicros, t, tn } from '../i18n';
import { messages, SUBJECT_MAX, TEXT_MAX, type Attachment, type Message, type ThreadSummary, type ThreadWithMessages } from '../api/messages';
import { ACCEPTED_TYPES, DEPOSIT_TYPES, documents, type DepositType } from '../api/documents';
import { access } from '../api/access';
import { FhirError } from '../api/fhir';
import { backLink, emptyState, errorState, loadingState } from '../components/states';
import { errorText, formMessages, selectField, textAreaField, textField, uid, validate, whileBusy, type FormMessages } from '../components/form';
import { accessErrorText, categoryText, forRecordNotice } from '../components/access-bits';
import { downloadContent, openInViewer, sizeText, viewerSection } from '../components/doc-viewer';
import { initials } from '../fhir-display';
import { currentRecord } from '../session';
import { navigate } from '../navigation';
import { pathFor, type PageContext, type Renderer } from '../routes';

type Side = 'patient' | 'pro';

const listPage = (side: Side) => (side === 'patient' ? 'patient.messages' : 'pro.messages');
const threadPage = (side: Side) => (side === 'patient' ? 'patient.message' : 'pro.message');

/** The refusal or failure in plain words: 403 (blocked…), 404, 422 as the contract gives them. */
export function messageErrorText(err: unknown): string {
  if (err instanceof FhirError && err.kind === 'http') {
    if (err.status === 404) return t('msg.error.notFound');
    if (err.status === 422) return t('msg.error.attachment');
    if (err.status === 413) return t('docs.tooLarge');
    if (err.status === 403) {
      const said = err.diagnostics.join(' ');
      if (/\bblocked\b|bloqu/i.test(said)) return t('msg.error.blocked');
      const detail = err.diagnostics[0] ? accessErrorText(err) : '';
      return detail ? t('msg.error.forbiddenWhy', { why: detail }) : t('msg.error.forbidden');
    }
  }
  return accessErrorText(err);
}

// ---------- the lists ----------

export const renderPatientMessages: Renderer = (main, ctx) => {
  const record = currentRecord(ctx.session);
  main.append(h('h1', { id: 'page-title' }, t('page.patient.messages')), h('p', { class: 'lead' }, t('msg.patientIntro')));
  const notice = forRecordNotice(record);
  if (notice) main.append(notice);
  if (!record) {
    main.append(h('p', { class: 'notice notice--info' }, t('access.noRecord')));
    return;
  }
  threadsSection(main, ctx, 'patient', record.patient_id);
};

export const renderProMessages: Renderer = (main, ctx) => {
  main.append(h('h1', { id: 'page-title' }, t('page.pro.messages')), h('p', { class: 'lead' }, t('msg.proIntro')));
  threadsSection(main, ctx, 'pro');
};

function threadsSection(main: HTMLElement, ctx: PageContext, side: Side, patient?: string): void {
  // "?archives=1" keeps the choice across a reload and the way back from a thread.
  let archived = new URLSearchParams(location.search).get('archives') === '1';
  const inbox = h('button', { type: 'button', class: 'msg-tabs__button' }, t('msg.inbox'));
  const archive = h('button', { type: 'button', class: 'msg-tabs__button' }, t('msg.archivedList'));
  const body = h('div', { class: 'msg-threads' });
  const setPressed = () => {
    inbox.setAttribute('aria-pressed', String(!archived));
    archive.setAttribute('aria-pressed', String(archived));
  };
  const load = () => {
    setPressed();
    mount(body, loadingState(t('state.loading')));
    messages
      .threads({ patient, archived }, ctx.signal)
      .then((list) => {
        if (!ctx.signal.aborted) mount(body, threadList(list ?? [], side, archived));
      })
      .catch((err: unknown) => {
        if (!ctx.signal.aborted) mount(body, errorState(err, { onRetry: load }));
      });
  };
  const choose = (value: boolean) => {
    if (archived === value) return;
    archived = value;
    history.replaceState(history.state, '', location.pathname + (archived ? '?archives=1' : ''));
    load();
  };
  inbox.addEventListener('click', () => choose(false));
  archive.addEventListener('click', () => choose(true));
  main.append(h('div', { class: 'msg-tabs', role: 'group', 'aria-label': t('msg.whichList') }, inbox, archive), body);
  load();
}

function threadList(list: ThreadSummary[], side: Side, archived: boolean): HTMLElement | HTMLElement[] {
  if (!list.length) {
    if (archived) return emptyState(t('msg.noneArchived'), t('msg.noneArchivedText'), 'messages');
    if (side === 'patient') return emptyState(t('msg.none'), t('msg.noneTextPatient'), 'messages');
    return emptyState(t('msg.none'), t('msg.noneTextPro'), 'messages', h('a', { class: 'button', href: pathFor('pro.patients') }, t('msg.toPatients')));
  }
  const sorted = [...list].sort((a, b) => b.last_at - a.last_at);
  const unread = sorted.reduce((n, th) => n + (th.unread > 0 ? 1 : 0), 0);
  const metaId = uid('fils');
  return [
    h('p', { class: 'list-meta', id: metaId }, tn('msg.threadsCount', sorted.length), unread ? ` · ${tn('msg.threadsUnread', unread)}` : ''),
    h('ul', { class: 'threads', role: 'list', 'aria-labelledby': metaId, 'data-testid': 'threads' }, sorted.map((th) => threadRow(th, side))),
  ];
}

function professionalLine(th: { professional: ThreadSummary['professional'] }): string {
  return [th.professional.name, th.professional.profession_label].filter(Boolean).join(' · ');
}

function threadRow(th: ThreadSummary, side: Side): HTMLElement {
  const isUnread = th.unread > 0;
  const who = side === 'patient' ? professionalLine(th) : th.patient_name || t('pro.thisPatient');
  const subject = th.subject || t('msg.noSubject');
  return h(
    'li',
    null,
    h(
      'a',
      { class: ['thread', isUnread && 'thread--unread'], href: pathFor(threadPage(side), { id: th.id }), 'data-thread-id': th.id, 'data-unread': String(th.unread) },
      h('span', { class: 'avatar', 'aria-hidden': 'true' }, initials(side === 'patient' ? th.professional.name.replace(/^Dr\.? /, '') : who)),
      h('span', { class: 'thread__body' },
        h('span', { class: 'thread__top' },
          h('span', { class: 'thread__who' }, who),
          h('time', { class: 'thread__when', datetime: isoMicros(th.last_at) }, formatMicros(th.last_at, false)),
        ),
        isUnread ? h('strong', { class: 'thread__subject' }, subject) : h('span', { class: 'thread__subject' }, subject),
        h('span', { class: 'thread__meta' },
          tn('msg.count', th.messages),
          isUnread && h('span', { class: 'badge badge--info thread__unread' }, tn('msg.unread', th.unread)),
        ),
      ),
      icon(ICONS.chevron, 'icon card__chevron'),
    ),
  );
}

// ---------- a thread ----------

export const renderPatientThread: Renderer = (main, ctx) => renderThread(main, ctx, 'patient');
export const renderProThread: Renderer = (main, ctx) => renderThread(main, ctx, 'pro');

function renderThread(main: HTMLElement, ctx: PageContext, side: Side): void {
  const id = ctx.params.id ?? '';
  const back = pathFor(listPage(side));
  main.append(backLink(back, t('msg.backToList')));
  if (!id) {
    navigate(back, { replace: true });
    return;
  }
  const sent = new URLSearchParams(location.search).get('envoye') === '1';
  const body = h('div', { class: 'msg-thread' });
  main.append(body);
  const load = () => {
    mount(body, loadingState(t('state.loading')));
    messages
      .thread(id, ctx.signal)
      .then((th) => {
        if (ctx.signal.aborted) return;
        showThread(body, th, side, ctx, sent);
      })
      .catch((err: unknown) => {
        if (ctx.signal.aborted) return;
        const status = err instanceof FhirError ? err.status : 0;
        if (status === 404 || status === 403) {
          mount(body,
            h('h1', { id: 'page-title', class: 'visually-hidden' }, t('msg.notFound')),
            emptyState(t('msg.notFound'), status === 404 ? t('msg.error.notFound') : messageErrorText(err), 'messages', h('a', { class: 'button', href: back }, t('msg.backToList'))),
          );
        } else {
          mount(body, h('h1', { id: 'page-title' }, t('page.patient.message')), errorState(err, { onRetry: load }));
        }
      });
  };
  load();
}

function showThread(body: HTMLElement, th: ThreadWithMessages, side: Side, ctx: PageContext, justSent: boolean): void {
  const status = formMessages();
  status.el.dataset.testid = 'thread-status';
  const viewer = viewerSection();
  const list = h('ol', { class: 'msgs', 'aria-label': t('msg.messagesLabel'), 'data-testid': 'messages' });
  for (const m of th.messages ?? []) list.append(messageItem(m, viewer, status, ctx));

  const withWhom = side === 'patient' ? professionalLine(th) : th.patient_name || t('pro.thisPatient');
  let archived = !!th.archived;
  const archiveButton = h('button', { type: 'button', class: 'button button--secondary button--small', 'data-testid': 'archive' });
  const setArchiveLabel = () => {
    archiveButton.textContent = archived ? t('msg.unarchive') : t('msg.archive');
  };
  setArchiveLabel();
  archiveButton.addEventListener('click', () => {
    status.clear();
    const next = !archived;
    void whileBusy(archiveButton, () =>
      messages
        .archive(th.id, next)
        .then(() => {
          if (ctx.signal.aborted) return;
          archived = next;
          setArchiveLabel();
          status.success(next ? t('msg.archivedDone') : t('msg.unarchivedDone'));
        })
        .catch((err: unknown) => {
          if (!ctx.signal.aborted) status.error(messageErrorText(err));
        }),
    );
  });

  const head = h(
    'header',
    { class: 'msg-head' },
    h('p', { class: 'eyebrow' }, t('msg.eyebrow')),
    h('h1', { id: 'page-title', class: 'msg-head__subject' }, th.subject || t('msg.noSubject')),
    h('p', { class: 'msg-head__with', 'data-testid': 'thread-with' }, t('msg.with', { name: withWhom })),
    side === 'pro' && th.patient_id ? h('p', { class: 'msg-head__link' }, h('a', { href: pathFor('pro.patient', { id: th.patient_id }) }, t('msg.openRecord'))) : null,
    h('div', { class: 'msg-head__actions' }, archiveButton),
  );
  const reply = replyForm(th, side, ctx, status, (m) => {
    list.append(messageItem(m, viewer, status, ctx));
  });
  mount(body, head, status.el, list, viewer, reply);
  if (justSent) status.success(t('msg.sent'));
}

function messageItem(m: Message, viewer: HTMLElement, status: FormMessages, ctx: PageContext): HTMLElement {
  // Text is text: never parsed as HTML; line breaks are kept by CSS (pre-wrap).
  const text = h('p', { class: 'msg__text' });
  text.textContent = m.text;
  const attachments = m.attachments ?? [];
  return h(
    'li',
    { class: ['msg', m.own ? 'msg--own' : 'msg--other'], 'data-message-id': m.id, 'data-own': String(m.own) },
    h('div', { class: 'msg__head' },
      h('span', { class: 'msg__sender' }, m.own ? t('msg.you') : m.sender?.name || t('msg.someone')),
      h('time', { class: 'msg__when', datetime: isoMicros(m.created_at) }, formatMicros(m.created_at)),
    ),
    text,
    attachments.length > 0 && h('ul', { class: 'msg__attachments', role: 'list', 'aria-label': t('msg.attachments') }, attachments.map((a) => attachmentCard(a, viewer, status, ctx))),
    m.own && h('p', { class: 'msg__receipt', 'data-testid': 'receipt' }, m.read_at ? t('msg.readAt', { when: formatMicros(m.read_at) }) : t('msg.notRead')),
  );
}

function attachmentCard(a: Attachment, viewer: HTMLElement, status: FormMessages, ctx: PageContext): HTMLElement {
  if (!a.available) {
    return h('li', { class: 'attachment attachment--unavailable', 'data-available': 'false' },
      h('span', { class: 'type-icon' }, icon(ICONS.document)),
      h('span', { class: 'attachment__body' }, h('span', { class: 'attachment__title' }, t('msg.attachmentUnavailable'))),
    );
  }
  const title = a.title || t('record.untitled');
  const actions: Child[] = [];
  if (a.binary_id) {
    const binary = a.binary_id;
    const open = h('button', { type: 'button', class: 'button button--secondary button--small' }, t('docs.open'), h('span', { class: 'visually-hidden' }, ` ${title}`));
    open.addEventListener('click', () => {
      status.clear();
      void whileBusy(open, () => openInViewer(viewer, binary, title, ctx.signal, () => open.focus()).catch((err: unknown) => {
        if (!ctx.signal.aborted) status.error(errorText(err));
      }));
    });
    const download = h('button', { type: 'button', class: 'button button--secondary button--small' }, t('docs.download'), h('span', { class: 'visually-hidden' }, ` ${title}`));
    download.addEventListener('click', () => {
      status.clear();
      void whileBusy(download, () => downloadContent(binary, title, ctx.signal).catch((err: unknown) => {
        if (!ctx.signal.aborted) status.error(errorText(err));
      }));
    });
    actions.push(open, download);
  }
  return h(
    'li',
    { class: 'attachment', 'data-available': 'true', 'data-doc': a.id },
    h('span', { class: 'type-icon' }, icon(ICONS.document)),
    h('span', { class: 'attachment__body' },
      h('span', { class: 'attachment__title' }, title),
      h('span', { class: 'attachment__meta' }, [categoryText(a.category), formatDate(a.date), sizeText(a.size)].filter(Boolean).join(' · ')),
    ),
    actions.length > 0 && h('span', { class: 'attachment__actions' }, actions),
  );
}

// ---------- writing ----------

interface AttachmentPicker {
  el: HTMLElement;
  file(): File | undefined;
  /** Checks the title when a file is chosen (focuses it otherwise). */
  check(): boolean;
  type(): DepositType;
  title(): string;
  reset(): void;
}

/** "Joindre un document (facultatif)": the file, its type and its title (the file's name by default). */
function attachmentPicker(defaultType: DepositType): AttachmentPicker {
  const fileId = uid('piece');
  const file = h('input', { id: fileId, name: 'piece-jointe', type: 'file', class: 'input', accept: ACCEPTED_TYPES.join(',') });
  const fileField = h('div', { class: 'field' }, h('label', { class: 'field__label', for: fileId }, t('msg.attachFile')), h('p', { class: 'field__hint' }, t('docs.fileHint')), file);
  const type = selectField({
    label: t('docs.type'),
    name: 'type',
    options: DEPOSIT_TYPES.map((d) => ({ value: d.key, label: t(`docs.type.${d.key}`) })),
    value: defaultType,
  });
  const title = textField({ label: t('msg.attachTitle'), name: 'titre-document', maxlength: 200, optional: true, hint: t('msg.attachTitleHint') });
  file.addEventListener('change', () => {
    const chosen = file.files?.[0];
    if (chosen && !title.value()) title.input.value = chosen.name.replace(/\.[^.]+$/, '');
  });
  const el = h('details', { class: 'msg-attach' }, h('summary', { class: 'msg-attach__summary' }, icon(ICONS.document), ' ', t('msg.attach')), fileField, type.el, title.el);
  return {
    el,
    file: () => file.files?.[0],
    check() {
      if (!file.files?.[0]) return true;
      if (title.value()) return true;
      el.open = true;
      title.setError(t('docs.titleMissing'));
      title.focus();
      return false;
    },
    type: () => type.value() as DepositType,
    title: () => title.value(),
    reset() {
      file.value = '';
      title.input.value = '';
      el.open = false;
    },
  };
}

/** A document deposited for a message that then failed: not deposited again on the retry. */
interface Deposited {
  file?: File;
  id?: string;
}

/**
 * Deposits the chosen file (if any), then sends; says what happened in `status`. When the
 * message fails after the deposit, says the document is in the record but the message was
 * not sent. Returns the answer of `send`, or undefined when something failed.
 */
async function depositThenSend<T>(pid: string, picker: AttachmentPicker, status: FormMessages, kept: Deposited, send: (ids: string[]) => Promise<T>): Promise<T | undefined> {
  const file = picker.file();
  const ids: string[] = [];
  if (file) {
    if (kept.file === file && kept.id) {
      ids.push(kept.id);
    } else {
      try {
        status.success(t('msg.depositing'));
        const today = new Date().toISOString().slice(0, 10);
        const id = await documents.deposit(pid, file, { type: picker.type(), title: picker.title(), date: today });
        kept.file = file;
        kept.id = id;
        ids.push(id);
      } catch (err) {
        status.error(t('msg.depositFailed', { why: errorText(err, { 413: t('docs.tooLarge'), 415: t('docs.badType') }) }));
        return undefined;
      }
    }
  }
  try {
    status.success(t('msg.sending'));
    const answer = await send(ids);
    kept.file = undefined;
    kept.id = undefined;
    return answer;
  } catch (err) {
    status.error(ids.length ? t('msg.sentWithoutMessage', { why: messageErrorText(err) }) : messageErrorText(err));
    return undefined;
  }
}

/** The text area with its limit, and "1 234 / 10 000 caractères" under it. */
function messageText(label: string): ReturnType<typeof textAreaField> & { counter: HTMLElement } {
  const field = textAreaField({ label, name: 'message', rows: 6, maxlength: TEXT_MAX, hint: t('msg.textHint', { n: formatNumber(TEXT_MAX) }) });
  field.input.classList.add('msg-text');
  const counter = h('p', { class: 'msg-counter', 'aria-hidden': 'true' });
  const update = () => {
    const n = [...field.input.value].length;
    counter.textContent = t('msg.counter', { n: formatNumber(n), max: formatNumber(TEXT_MAX) });
    counter.classList.toggle('msg-counter--over', n > TEXT_MAX);
  };
  field.input.addEventListener('input', update);
  update();
  field.el.append(counter);
  return { ...field, counter };
}

function textProblem(text: string): string | undefined {
  if (!text) return t('msg.textMissing');
  if ([...text].length > TEXT_MAX) return t('msg.textTooLong', { n: formatNumber(TEXT_MAX) });
  return undefined;
}

function replyForm(th: ThreadWithMessages, side: Side, ctx: PageContext, status: FormMessages, onSent: (m: Message) => void): HTMLElement {
  const text = messageText(t('msg.reply'));
  const picker = attachmentPicker(side === 'pro' ? 'report' : 'other');
  const submit = h('button', { type: 'submit', class: 'button' }, t('msg.send'));
  const kept: Deposited = {};
  const form = h('form', { class: 'form msg-reply', novalidate: true, 'aria-labelledby': 'reply-title', 'data-testid': 'reply' }, text.el, picker.el, h('div', { class: 'form__actions' }, submit));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    status.clear();
    const value = text.input.value.trim();
    if (!validate([[text, textProblem(value)]]) || !picker.check()) return;
    void whileBusy(submit, async () => {
      const m = await depositThenSend(th.patient_id, picker, status, kept, (ids) => messages.reply(th.id, value, ids));
      if (!m || ctx.signal.aborted) return;
      onSent(m);
      text.input.value = '';
      text.input.dispatchEvent(new Event('input'));
      picker.reset();
      status.success(t('msg.sent'));
    });
  });
  return h('section', { class: 'panel msg-reply-panel', 'aria-labelledby': 'reply-title' }, h('h2', { id: 'reply-title', class: 'panel__title' }, t('msg.replyTitle')), form);
}

// ---------- a new message (professionals) ----------

export const renderProCompose: Renderer = (main, ctx) => {
  const pid = ctx.params.id ?? '';
  if (!pid) {
    navigate(pathFor('pro.patients'), { replace: true });
    return;
  }
  const to = h('p', { class: 'lead', 'data-testid': 'compose-to' }, t('msg.composeIntro'));
  main.append(backLink(pathFor('pro.patient', { id: pid }), t('pro.backToRecord')), h('h1', { id: 'page-title' }, t('page.pro.compose')), to);
  // The patient's name, as the professional's list gives it (nothing else is asked).
  access
    .patients(ctx.signal)
    .then((list) => {
      const p = (list ?? []).find((x) => x.patient_id === pid);
      if (p && !ctx.signal.aborted) to.textContent = t('msg.composeTo', { name: p.name });
    })
    .catch(() => undefined);

  const status = formMessages();
  status.el.dataset.testid = 'compose-status';
  const subject = textField({ label: t('msg.subject'), name: 'objet', maxlength: SUBJECT_MAX, hint: t('msg.subjectHint', { n: SUBJECT_MAX }) });
  const text = messageText(t('msg.text'));
  const picker = attachmentPicker('prescription');
  const submit = h('button', { type: 'submit', class: 'button' }, t('msg.sendNew'));
  const kept: Deposited = {};
  const form = h('form', { class: 'form msg-compose', novalidate: true, 'aria-labelledby': 'page-title', 'data-testid': 'compose' }, subject.el, text.el, picker.el, status.el, h('div', { class: 'form__actions' }, submit));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    status.clear();
    const subjectValue = subject.value();
    const value = text.input.value.trim();
    const ok = validate([
      [subject, !subjectValue ? t('msg.subjectMissing') : [...subjectValue].length > SUBJECT_MAX ? t('msg.subjectTooLong', { n: SUBJECT_MAX }) : undefined],
      [text, textProblem(value)],
    ]);
    if (!ok || !picker.check()) return;
    void whileBusy(submit, async () => {
      const thread = await depositThenSend(pid, picker, status, kept, (ids) => messages.start({ patient: pid, subject: subjectValue, text: value, attachments: ids }));
      if (!thread || ctx.signal.aborted) return;
      navigate(`${pathFor('pro.message', { id: thread.id })}?envoye=1`);
    });
  });
  main.append(form);
};
