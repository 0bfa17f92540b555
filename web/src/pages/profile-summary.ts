// "/patient/profil/resume" ("Résumé à imprimer"): the International Patient Summary of the
// record (GET /fhir/Patient/{pid}/$summary, an IPS document Bundle), shown section by section
// from the Composition: each entry's text is built from the resource it references, never
// from the narrative's HTML. "Imprimer" calls window.print(); the print style sheet leaves
// out the portal's header, menu and footer, black on white.
import { h, mount } from '../dom';
import { formatDate, t } from '../i18n';
import { profile, type CompositionSection, type ProfileResource, type SummaryBundle } from '../api/profile';
import { backLink, errorState, loadingState } from '../components/states';
import { forRecordNotice } from '../components/access-bits';
import { clinicalDate, describe, summarySectionTitle } from '../components/profile-bits';
import { uid } from '../components/form';
import { currentRecord } from '../session';
import { pathFor, type Renderer } from '../routes';

export const renderProfileSummary: Renderer = (main, ctx) => {
  const record = currentRecord(ctx.session);
  const print = h('button', { type: 'button', class: 'button' }, t('profile.summary.print'));
  print.addEventListener('click', () => window.print());
  main.append(
    h('div', { class: 'no-print' },
      backLink(pathFor('patient.profile'), t('profile.summary.back')),
    ),
    h('h1', { id: 'page-title' }, t('page.patient.profileSummary')),
    h('p', { class: 'lead no-print' }, t('profile.summary.intro')),
  );
  const notice = forRecordNotice(record);
  if (notice) {
    notice.classList.add('no-print');
    main.append(notice);
  }
  if (!record) {
    main.append(h('p', { class: 'notice notice--info' }, t('access.noRecord')));
    return;
  }
  const actions = h('p', { class: 'summary-actions no-print', hidden: true }, print);
  const body = h('div', { class: 'ips', 'data-testid': 'summary' });
  main.append(actions, body);
  const load = () => {
    mount(body, loadingState(t('profile.summary.loading')));
    profile
      .summary(record.patient_id, ctx.signal)
      .then((bundle) => {
        if (ctx.signal.aborted) return;
        mount(body, summaryView(bundle));
        actions.hidden = false;
      })
      .catch((err: unknown) => {
        if (!ctx.signal.aborted) mount(body, errorState(err, { onRetry: load }));
      });
  };
  load();
};

/** Type/id of a reference or a fullUrl: "Condition/1" from ".../fhir/Condition/1". */
function typeAndId(ref: string): string {
  const parts = ref.split('/').filter(Boolean);
  const i = parts.indexOf('_history');
  const upTo = i >= 0 ? parts.slice(0, i) : parts;
  return upTo.slice(-2).join('/');
}

function summaryView(bundle: SummaryBundle): HTMLElement[] {
  const resources = (bundle.entry ?? []).filter((e) => e.resource);
  const byRef = new Map<string, ProfileResource>();
  for (const e of resources) {
    const r = e.resource!;
    if (e.fullUrl) byRef.set(e.fullUrl, r);
    if (r.id) byRef.set(`${r.resourceType}/${r.id}`, r);
  }
  const resolve = (ref: string | undefined) => (ref ? byRef.get(ref) ?? byRef.get(typeAndId(ref)) : undefined);
  const composition = resources.find((e) => e.resource!.resourceType === 'Composition')?.resource;
  const patient = resources.find((e) => e.resource!.resourceType === 'Patient')?.resource;
  if (!composition) return [h('p', { class: 'notice notice--error', role: 'alert' }, t('profile.summary.noComposition'))];

  const name = patient?.name?.[0]?.text?.trim() || [...(patient?.name?.[0]?.given ?? []), patient?.name?.[0]?.family ?? ''].join(' ').trim();
  const head = h(
    'div',
    { class: 'ips__head' },
    h('p', { class: 'ips__patient' }, name || t('demo.unnamed')),
    patient?.birthDate && h('p', null, t('profile.summary.born', { date: formatDate(patient.birthDate) })),
    h('p', { class: 'ips__made' },
      t('profile.summary.made', { date: formatDate(composition.date ?? bundle.timestamp) }),
      composition.author?.[0]?.display ? ` ${t('profile.summary.by', { name: composition.author[0].display })}` : ''),
  );
  return [head, ...(composition.section ?? []).map((s) => sectionView(s, resolve))];
}

function sectionView(s: CompositionSection, resolve: (ref: string | undefined) => ProfileResource | undefined): HTMLElement {
  const code = s.code?.coding?.find((c) => c.system === 'http://loinc.org')?.code ?? s.code?.coding?.[0]?.code;
  const id = uid('ips');
  const items = (s.entry ?? []).map((e) => resolve(e.reference)).filter((r): r is ProfileResource => !!r);
  let content: HTMLElement;
  if (items.length) {
    content = h(
      'ul',
      { class: 'ips__entries' },
      items.map((r) => {
        const v = describe(r);
        const date = clinicalDate(r);
        return h('li', { class: 'ips__entry' },
          h('span', { class: 'ips__title' }, v.title),
          v.details.length > 0 && h('span', { class: 'ips__details' }, ` · ${v.details.join(' · ')}`),
          date && h('span', { class: 'ips__date' }, ` — ${formatDate(date)}`),
          v.body && h('p', { class: 'ips__body' }, v.body));
      }),
    );
  } else {
    const reason = s.emptyReason?.coding?.[0]?.code;
    content = h('p', { class: 'ips__empty' }, t(reason === 'nilknown' ? 'profile.summary.nilknown' : 'profile.summary.unavailable'));
  }
  return h('section', { class: 'ips__section', 'aria-labelledby': id, 'data-code': code ?? '' },
    h('h2', { id, class: 'ips__section-title' }, summarySectionTitle(code, s.title)),
    content);
}
