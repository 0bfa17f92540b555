// The professional's side of patient-controlled access:
//   "/pro/acces"          the patients this professional may open now, and on what basis
//                         (GET /access/patients)
//   "/pro/code"           the code a patient handed over, with the patient's INS
//                         (POST /access/codes/redeem {ins, code} → {patient_id, name})
//   "/pro/urgence"        break-the-glass: a written reason (≥ 10 characters) and a fresh
//                         identity check (POST /access/records/{pid}/emergency {purpose:"BTG",
//                         reason}; 403 needs-fresh-auth → components/reauth.ts, then again)
//   "/pro/patients/:id"   a patient's record as the grid and the patient allow, with the way to
//                         their medical profile ("/pro/patients/:id/profil", pages/pro-profile.ts)
//                         and a new message ("/pro/patients/:id/message", pages/messages.ts);
//                         and documents ("/pro/patients/:id/documents", pages/pro-documents.ts);
//                         when it cannot be read, what the professional can do (a code,
//                         emergency access)
import { h, icon, ICONS, mount } from '../dom';
import { formatMicros, t, tn } from '../i18n';
import { access, needsFreshAuth, normalizeAccessCode, type ReachablePatient } from '../api/access';
import { AuthError } from '../api/auth';
import { backLink, emptyState, errorState, loadingState } from '../components/states';
import { digits, formMessages, selectField, textAreaField, textField, uid, validate, whileBusy } from '../components/form';
import { freshlyAuthenticated, reauthStep } from '../components/reauth';
import { accessErrorText, basisText, panel, remaining, untilText } from '../components/access-bits';
import { invalidate } from '../cache';
import { initials } from '../fhir-display';
import { renderRecord } from './demo-patient';
import { navigate } from '../navigation';
import { pathFor, type PageContext, type Renderer } from '../routes';

const MIN_REASON = 10;
/** Patients the emergency page may name (from the list or a record page), for its heading. */
const names = new Map<string, string>();

// ---------- my patients ----------

export const renderProPatients: Renderer = (main, ctx) => {
  const body = h('div', { class: 'results' });
  main.append(
    h('h1', { id: 'page-title' }, t('page.pro.patients')),
    h('p', { class: 'lead' }, t('pro.patientsIntro')),
    h('div', { class: 'form__actions pro-actions' },
      h('a', { class: 'button', href: pathFor('pro.code') }, icon(ICONS.key), t('pro.enterCode')),
      h('a', { class: 'button button--danger-outline', href: pathFor('pro.emergency') }, icon(ICONS.emergency), t('pro.emergencyLink')),
    ),
    body,
    h('p', { class: 'see-also' }, h('a', { href: pathFor('pro.accessLog') }, t('pro.seeOwnLog'))),
  );
  const load = () => {
    mount(body, loadingState(t('state.loading')));
    access
      .patients(ctx.signal)
      .then((list) => {
        if (ctx.signal.aborted) return;
        for (const p of list ?? []) names.set(p.patient_id, p.name);
        mount(body, patientList(list ?? []));
      })
      .catch((err: unknown) => {
        if (!ctx.signal.aborted) mount(body, errorState(err, { onRetry: load }));
      });
  };
  load();
};

function patientList(list: ReachablePatient[]): HTMLElement | HTMLElement[] {
  if (!list.length) {
    return emptyState(t('pro.noPatients'), t('pro.noPatientsText'), 'people', h('a', { class: 'button', href: pathFor('pro.code') }, t('pro.enterCode')));
  }
  const listId = uid('patients');
  const sorted = [...list].sort((a, b) => a.name.localeCompare(b.name));
  return [
    h('p', { class: 'list-meta', id: listId }, tn('pro.patientsCount', list.length)),
    h(
      'ul',
      { class: 'cards', role: 'list', 'aria-labelledby': listId, 'data-testid': 'my-patients' },
      sorted.map((p) =>
        h(
          'li',
          null,
          h(
            'a',
            { class: ['card', 'card--link', (p.basis === 'BTG' || p.basis === 'ETREAT') && 'card--emergency'], href: pathFor('pro.patient', { id: p.patient_id }), 'data-patient-id': p.patient_id, 'data-basis': p.basis },
            h('span', { class: 'avatar', 'aria-hidden': 'true' }, initials(p.name)),
            h('span', { class: 'card__body' },
              h('span', { class: 'card__title' }, p.name),
              h('span', { class: 'card__subtitle' }, t('pro.basis', { basis: basisText(p.basis) })),
              p.until ? h('span', { class: 'card__meta' }, untilText(p.until)) : null,
            ),
            icon(ICONS.chevron, 'icon card__chevron'),
          ),
        ),
      ),
    ),
  ];
}

// ---------- the code a patient handed over ----------

export const renderRedeem: Renderer = (main, ctx) => {
  const ins = textField({ label: t('pro.ins'), name: 'ins', hint: t('pro.insHint'), inputmode: 'text', spellcheck: false, autocapitalize: 'characters', class: 'input--mono' });
  const code = textField({ label: t('pro.code'), name: 'code', hint: t('pro.codeHint'), spellcheck: false, autocapitalize: 'characters', class: 'input--mono input--access-code', maxlength: 16 });
  const messages = formMessages();
  const done = h('div', { class: 'accepted' });
  const submit = h('button', { type: 'submit', class: 'button' }, t('pro.redeem'));
  const form = h('form', { class: 'form', novalidate: true, 'aria-labelledby': 'page-title' }, messages.el, ins.el, code.el, h('div', { class: 'form__actions' }, submit));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    messages.clear();
    done.replaceChildren();
    const insValue = digits(ins.value()).toUpperCase();
    const codeValue = normalizeAccessCode(code.value());
    const ok = validate([
      [ins, !insValue ? t('pro.insRequired') : /^[0-9]{5}(?:[0-9]{2}|2A|2B)[0-9]{8}$/.test(insValue) ? undefined : t('pro.insInvalid')],
      [code, !codeValue ? t('pro.codeRequired') : codeValue.replace(/-/g, '').length === 10 ? undefined : t('pro.codeInvalid')],
    ]);
    if (!ok) return;
    void whileBusy(submit, async () => {
      try {
        const answer = await access.redeem(insValue, codeValue);
        if (ctx.signal.aborted) return;
        code.input.value = '';
        ins.input.value = '';
        names.set(answer.patient_id, answer.name);
        messages.success(t('pro.redeemed', { name: answer.name }));
        mount(done, h('a', { class: 'button', href: pathFor('pro.patient', { id: answer.patient_id }) }, t('pro.openRecord', { name: answer.name })));
      } catch (err) {
        if (ctx.signal.aborted) return;
        if (err instanceof AuthError && (err.status === 404 || err.status === 400)) {
          code.setError(accessErrorText(err, { 404: t('pro.codeWrong') }));
          code.focus();
        } else {
          messages.error(accessErrorText(err));
        }
      }
    });
  });
  main.append(
    backLink(pathFor('pro.patients'), t('pro.backToPatients')),
    h('h1', { id: 'page-title' }, t('page.pro.code')),
    h('p', { class: 'lead' }, t('pro.codeIntro')),
    form,
    done,
    h('p', { class: 'panel__note' }, t('pro.codeNote')),
  );
};

// ---------- break-the-glass ----------

export const renderEmergency: Renderer = (main, ctx) => {
  const asked = new URLSearchParams(location.search).get('patient') ?? '';
  main.append(
    backLink(asked ? pathFor('pro.patient', { id: asked }) : pathFor('pro.patients'), asked ? t('pro.backToRecord') : t('pro.backToPatients')),
    h('h1', { id: 'page-title' }, t('page.pro.emergency')),
    h('p', { class: 'lead' }, t('pro.emergencyIntro')),
    h('div', { class: 'consequence' },
      h('h2', { class: 'consequence__title' }, t('pro.emergencyRulesTitle')),
      h('ul', { class: 'consequence__list' },
        h('li', null, t('pro.emergencyRule1')),
        h('li', null, t('pro.emergencyRule2')),
        h('li', null, t('pro.emergencyRule3')),
        h('li', null, t('pro.emergencyRule4')),
      ),
    ),
  );
  const area = h('div', { class: 'emergency' });
  main.append(area);
  mount(area, loadingState(t('state.loading'), true));
  access
    .patients(ctx.signal)
    .catch(() => [] as ReachablePatient[])
    .then((list) => {
      if (ctx.signal.aborted) return;
      for (const p of list ?? []) names.set(p.patient_id, p.name);
      emergencyForm(area, asked, list ?? [], ctx);
    });
};

function emergencyForm(area: HTMLElement, asked: string, list: ReachablePatient[], ctx: PageContext): void {
  const messages = formMessages();
  const options = list.map((p) => ({ value: p.patient_id, label: p.name }));
  if (asked && !options.some((o) => o.value === asked)) options.unshift({ value: asked, label: names.get(asked) ?? t('pro.thisPatient') });
  if (!options.length) {
    mount(area, emptyState(t('pro.emergencyNoPatient'), t('pro.emergencyNoPatientText'), 'emergency'));
    return;
  }
  const patient = selectField({
    label: t('pro.emergencyPatient'),
    name: 'patient',
    value: asked || undefined,
    options: [{ value: '', label: t('pro.choosePatient') }, ...options],
  });
  const reason = textAreaField({ label: t('pro.emergencyReason'), name: 'motif', hint: t('pro.emergencyReasonHint', { n: MIN_REASON }), rows: 4, maxlength: 500 });
  const submit = h('button', { type: 'submit', class: 'button button--danger' }, icon(ICONS.emergency), t('pro.emergencySubmit'));
  const form = h('form', { class: 'form', novalidate: true, 'aria-label': t('page.pro.emergency') }, messages.el, patient.el, reason.el, h('div', { class: 'form__actions' }, submit));
  const flow = h('div', { class: 'emergency__flow' });

  const open = async (pid: string, text: string, retried: boolean): Promise<void> => {
    try {
      const answer = await access.breakTheGlass(pid, text);
      if (ctx.signal.aborted) return;
      // The record read before the emergency access may be stale: read it again.
      invalidate(`patient:${pid}`);
      invalidate(`record:${pid}:`);
      opened(area, pid, answer.until, ctx);
    } catch (err) {
      if (ctx.signal.aborted) return;
      let stale = needsFreshAuth(err);
      if (!stale && err instanceof AuthError && err.status === 403 && !retried) {
        // A 403 that does not say why: the identity check may be what is missing.
        const { fresh } = await freshlyAuthenticated().catch(() => ({ fresh: false }));
        stale = !fresh;
      }
      if (stale && !retried) {
        askCheck(pid, text);
        return;
      }
      mount(flow, form);
      if (err instanceof AuthError && err.status === 400 && err.field === 'reason') {
        reason.setError(accessErrorText(err));
        reason.focus();
      } else {
        messages.error(accessErrorText(err));
      }
    }
  };

  const askCheck = (pid: string, text: string) => {
    const step = reauthStep({
      intro: t('pro.emergencyReauth'),
      signal: ctx.signal,
      onDone: () => {
        mount(flow, loadingState(t('pro.emergencyOpening'), true));
        void open(pid, text, true);
      },
      onCancel: () => {
        mount(flow, form);
        submit.focus();
      },
    });
    mount(flow, step.el);
    step.focus();
  };

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    messages.clear();
    const text = reason.value();
    const ok = validate([
      [patient, patient.input.value ? undefined : t('pro.choosePatientRequired')],
      [reason, !text ? t('pro.emergencyReasonRequired') : [...text].length < MIN_REASON ? t('pro.emergencyReasonShort', { n: MIN_REASON }) : undefined],
    ]);
    if (!ok) return;
    void whileBusy(submit, () => open(patient.input.value, text, false));
  });
  mount(flow, form);
  mount(area, flow);
}

/** Open: until when, a countdown in words, and the way to the record. */
function opened(area: HTMLElement, pid: string, until: number, ctx: PageContext): void {
  const left = h('p', { class: 'emergency__left', 'data-testid': 'emergency-left' });
  const tick = () => {
    const ms = Math.floor(until / 1000) - Date.now();
    left.textContent = ms > 0 ? t('pro.emergencyLeft', { left: remaining(ms) }) : t('pro.emergencyOver');
  };
  tick();
  const timer = window.setInterval(tick, 30_000);
  ctx.signal.addEventListener('abort', () => window.clearInterval(timer));
  const heading = h('h2', { class: 'once__title', tabindex: '-1' }, t('pro.emergencyOpened'));
  mount(
    area,
    h('section', { class: 'once once--emergency', role: 'status', 'data-testid': 'emergency-opened' },
      heading,
      h('p', null, t('pro.emergencyUntil', { when: formatMicros(until) })),
      left,
      h('p', null, t('pro.emergencyTold')),
      h('a', { class: 'button', href: pathFor('pro.patient', { id: pid }) }, t('pro.openRecord', { name: names.get(pid) ?? t('pro.thisPatient') })),
    ),
  );
  heading.focus();
}

// ---------- a patient's record ----------

export const renderProRecord: Renderer = (main, ctx) => {
  const id = ctx.params.id ?? '';
  main.append(backLink(pathFor('pro.patients'), t('pro.backToPatients')));
  if (!id) {
    navigate(pathFor('pro.patients'), { replace: true });
    return;
  }
  // Never an answer read before a block or a revocation: the record is asked again.
  invalidate(`patient:${id}`);
  invalidate(`record:${id}:`);
  const emergencyHref = `${pathFor('pro.emergency')}?patient=${encodeURIComponent(id)}`;
  // With access, the emergency action stays at hand (a distinct red action) below the record;
  // without, the panel says what the professional can do.
  const help = h('div', { class: 'record-help' },
    h('p', { class: 'see-also' }, h('a', { class: 'link-danger', href: emergencyHref }, icon(ICONS.emergency), ' ', t('pro.emergencyLink'))),
  );
  // The medical profile: allergies, treatments, vaccinations… and what this profession may add.
  const profileLink = h('div', { class: 'record-links' },
    h('a', { class: 'card card--link', href: pathFor('pro.profile', { id }), 'data-testid': 'profile-link' },
      h('span', { class: 'type-icon type-icon--profile' }, icon(ICONS.profile)),
      h('span', { class: 'card__body' },
        h('span', { class: 'card__title' }, t('pro.profileLink')),
        h('span', { class: 'card__subtitle' }, t('pro.profileLinkText')),
      ),
      icon(ICONS.chevron, 'icon card__chevron'),
    ),
    // Secure messaging: professionals start threads (docs/MESSAGING.md).
    h('a', { class: 'card card--link', href: pathFor('pro.compose', { id }), 'data-testid': 'message-link' },
      h('span', { class: 'type-icon type-icon--messages' }, icon(ICONS.messages)),
      h('span', { class: 'card__body' },
        h('span', { class: 'card__title' }, t('msg.writeCard')),
        h('span', { class: 'card__subtitle' }, t('msg.writeCardText')),
      ),
      icon(ICONS.chevron, 'icon card__chevron'),
    ),
    // The documents: the list as the grid and the patient allow, deposit, new versions.
    h('a', { class: 'card card--link', href: pathFor('pro.documents', { id }), 'data-testid': 'documents-link' },
      h('span', { class: 'type-icon type-icon--documents' }, icon(ICONS.documents)),
      h('span', { class: 'card__body' },
        h('span', { class: 'card__title' }, t('pro.documentsLink')),
        h('span', { class: 'card__subtitle' }, t('pro.documentsLinkText')),
      ),
      icon(ICONS.chevron, 'icon card__chevron'),
    ),
  );
  renderRecord(main, id, ctx, {
    eyebrow: t('pro.recordEyebrow'),
    afterHead: profileLink,
    onError: (err) => {
      profileLink.remove();
      const status = (err as { status?: number } | null)?.status;
      if (status !== 403 && status !== 404) {
        help.replaceChildren();
        return;
      }
      mount(
        help,
        panel('sans-acces', t('pro.noAccessTitle'),
          h('p', null, t('pro.noAccessText')),
          h('div', { class: 'form__actions' },
            h('a', { class: 'button button--secondary', href: pathFor('pro.code') }, icon(ICONS.key), t('pro.enterCode')),
            h('a', { class: 'button button--danger-outline', href: emergencyHref }, icon(ICONS.emergency), t('pro.emergencyLink')),
          ),
        ),
      );
    },
  });
  main.append(help);
};
