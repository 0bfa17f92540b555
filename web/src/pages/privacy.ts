// "/patient/confidentialite" ("Confidentialité et urgences"): the holder's switches — emergency
// access (SAMU regulation, break-the-glass, masked documents included), the emergency-only
// mode, masking new documents by default, being told of each access — each explained in one
// sentence and saved at once; then the emergency accesses to the record (who, when, why, until).
//   GET /access/records/{pid}/settings, PUT /access/records/{pid}/settings {one boolean}
//   GET /access/records/{pid}/emergencies
// Caregivers do not manage this (the API answers 403): they are told so.
import { h, icon, ICONS, mount, type Child } from '../dom';
import { formatMicros, isoMicros, t } from '../i18n';
import { access, type AccessSettings, type Emergency, type SettingKey } from '../api/access';
import { backLink, errorState, loadingState } from '../components/states';
import { formMessages } from '../components/form';
import {
  accessErrorText, caregiverNotice, forbiddenNotice, forRecordNotice, isForbidden, panel, switchField, untilText,
} from '../components/access-bits';
import { currentRecord } from '../session';
import { pathFor, type PageContext, type Renderer } from '../routes';

interface Group {
  id: string;
  title: string;
  intro?: string;
  keys: SettingKey[];
  after?: Child;
}

export const renderPrivacy: Renderer = (main, ctx) => {
  const record = currentRecord(ctx.session);
  main.append(
    backLink(pathFor('patient.home'), t('record.back')),
    h('h1', { id: 'page-title' }, t('page.patient.privacy')),
    h('p', { class: 'lead' }, t('privacy.intro')),
  );
  const notice = forRecordNotice(record);
  if (notice) main.append(notice);
  const refused = caregiverNotice(record);
  if (refused || !record) {
    if (refused) main.append(refused);
    return;
  }
  const pid = record.patient_id;

  const groups: Group[] = [
    { id: 'urgence', title: t('privacy.emergencyTitle'), intro: t('privacy.emergencyIntro'), keys: ['etreat', 'btg', 'emergency_masked'] },
    { id: 'mode', title: t('privacy.modeTitle'), keys: ['emergency_only'] },
    {
      id: 'masquage',
      title: t('privacy.maskTitle'),
      keys: ['mask_new'],
      after: h('p', { class: 'panel__note' }, h('a', { href: pathFor('patient.maskedDocuments') }, t('privacy.maskLink'))),
    },
    { id: 'notifications', title: t('privacy.notifyTitle'), intro: t('privacy.notifyIntro'), keys: ['notify_email', 'notify_sms'] },
  ];
  const bodies = new Map(groups.map((g) => [g.id, h('div', { class: 'switches' })]));
  const status = formMessages();
  main.append(
    h(
      'nav',
      { class: 'toc', 'aria-label': t('account.toc') },
      h('ul', { class: 'toc__list', role: 'list' },
        [...groups.map((g) => [g.id, g.title]), ['urgences-passees', t('privacy.pastTitle')]].map(([id, title]) => h('li', null, h('a', { class: 'toc__link', href: `#${id}` }, title))),
      ),
    ),
    status.el,
    ...groups.map((g) => panel(g.id, g.title, g.intro && h('p', { class: 'panel__intro' }, g.intro), bodies.get(g.id), g.after)),
  );
  const past = h('div', { class: 'panel__body' });
  main.append(
    panel('urgences-passees', t('privacy.pastTitle'), h('p', { class: 'panel__intro' }, t('privacy.pastIntro')), past),
    h('p', { class: 'see-also' },
      h('a', { href: pathFor('patient.access') }, t('privacy.seeWho')),
      ' · ',
      h('a', { href: pathFor('patient.accessLog') }, t('whoCanSee.seeLog')),
    ),
  );

  const load = (): void => {
    for (const b of bodies.values()) mount(b, loadingState(t('state.loading'), true));
    access
      .settings(pid, ctx.signal)
      .then((settings) => {
        if (ctx.signal.aborted) return;
        for (const g of groups) mount(bodies.get(g.id)!, g.keys.map((k) => settingSwitch(k, settings, pid, ctx, status)));
      })
      .catch((err: unknown) => {
        if (ctx.signal.aborted) return;
        const [first, ...rest] = groups;
        mount(bodies.get(first!.id)!, isForbidden(err) ? forbiddenNotice(err) : errorState(err, { compact: true, onRetry: load }));
        for (const g of rest) bodies.get(g.id)!.replaceChildren();
      });
  };
  load();
  loadEmergencies(past, pid, ctx);
};

const SETTING_LABEL: Record<SettingKey, [string, string]> = {
  etreat: ['privacy.etreat', 'privacy.etreatHint'],
  btg: ['privacy.btg', 'privacy.btgHint'],
  emergency_masked: ['privacy.emergencyMasked', 'privacy.emergencyMaskedHint'],
  emergency_only: ['privacy.emergencyOnly', 'privacy.emergencyOnlyHint'],
  mask_new: ['privacy.maskNew', 'privacy.maskNewHint'],
  notify_email: ['privacy.notifyEmail', 'privacy.notifyEmailHint'],
  notify_sms: ['privacy.notifySms', 'privacy.notifySmsHint'],
};

/** One switch, saved as soon as it changes; put back as it was if the server refuses. */
function settingSwitch(key: SettingKey, settings: AccessSettings, pid: string, ctx: PageContext, status: ReturnType<typeof formMessages>): HTMLElement {
  const [label, hint] = SETTING_LABEL[key];
  const sw = switchField({
    id: `reglage-${key.replace(/_/g, '-')}`,
    label: t(label as 'privacy.btg'),
    hint: t(hint as 'privacy.btgHint'),
    checked: !!settings[key],
    onChange: (on) => {
      status.clear();
      sw.input.disabled = true;
      sw.el.setAttribute('aria-busy', 'true');
      access
        .setSettings(pid, { [key]: on })
        .then((saved) => {
          if (ctx.signal.aborted) return;
          const now = saved && typeof saved[key] === 'boolean' ? saved[key] : on;
          settings[key] = now;
          sw.set(now);
          status.success(t(now ? 'privacy.savedOn' : 'privacy.savedOff', { what: t(label as 'privacy.btg') }));
        })
        .catch((err: unknown) => {
          if (ctx.signal.aborted) return;
          sw.set(!on);
          status.error(accessErrorText(err));
        })
        .finally(() => {
          sw.input.disabled = false;
          sw.el.removeAttribute('aria-busy');
          if (!ctx.signal.aborted) sw.input.focus();
        });
    },
  });
  return sw.el;
}

function loadEmergencies(body: HTMLElement, pid: string, ctx: PageContext): void {
  const run = () => {
    mount(body, loadingState(t('state.loading'), true));
    access
      .emergencies(pid, ctx.signal)
      .then((list) => {
        if (!ctx.signal.aborted) mount(body, emergencyList(list ?? []));
      })
      .catch((err: unknown) => {
        if (!ctx.signal.aborted) mount(body, isForbidden(err) ? forbiddenNotice(err) : errorState(err, { compact: true, onRetry: run }));
      });
  };
  run();
}

function emergencyList(list: Emergency[]): Child {
  if (!list.length) return h('p', { class: 'panel__empty' }, t('privacy.noEmergency'));
  const sorted = [...list].sort((a, b) => b.opened_at - a.opened_at);
  return h(
    'ul',
    { class: 'rows', role: 'list', 'data-testid': 'emergencies' },
    sorted.map((e) => {
      const ongoing = Math.floor(e.until / 1000) > Date.now();
      return h(
        'li',
        { class: ['row', 'row--emergency'], 'data-kind': e.kind },
        h('div', { class: 'row__main' },
          h('span', { class: 'row__title' }, icon(ICONS.emergency), ' ', e.professional_name),
          h('span', { class: 'row__badges' },
            h('span', { class: 'badge badge--danger' }, h('span', { class: 'badge__mark', 'aria-hidden': 'true' }, '⚠'), e.kind === 'ETREAT' ? t('privacy.kindEtreat') : t('privacy.kindBtg')),
            ongoing && h('span', { class: 'badge badge--warn' }, t('privacy.ongoing')),
          ),
          h('span', { class: 'row__meta' }, t('privacy.openedAt'), ' ', h('time', { datetime: isoMicros(e.opened_at) }, formatMicros(e.opened_at))),
          e.reason && h('span', { class: 'row__meta' }, t('privacy.reason', { reason: e.reason })),
          h('span', { class: 'row__meta' }, untilText(e.until)),
        ),
      );
    }),
  );
}
