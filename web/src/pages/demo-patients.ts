// "Patients de démonstration": the list of patients the server holds.
//   GET /fhir/Patient?_count=50
import { h, icon, ICONS, mount } from '../dom';
import { entries, fhir, type Patient } from '../api/fhir';
import { ageFrom, formatDate, t, tn } from '../i18n';
import { cached, invalidate } from '../cache';
import { emptyState, errorState, loadingState } from '../components/states';
import { familyName, genderLabel, initials, patientName } from '../fhir-display';
import { pathFor, type Renderer } from '../routes';

const PAGE_SIZE = 50;

export const renderDemoPatients: Renderer = (main, ctx) => {
  const region = h('div', { class: 'demo-list' });
  main.append(
    h('h1', { id: 'page-title' }, t('page.patient.demo')),
    h('p', { class: 'lead' }, t('demo.intro')),
    region,
  );

  const load = () => {
    mount(region, loadingState(t('demo.loading')));
    region.setAttribute('aria-busy', 'true');
    cached('patients', () => fhir.search('Patient', { _count: PAGE_SIZE }))
      .then((bundle) => {
        if (ctx.signal.aborted) return;
        region.removeAttribute('aria-busy');
        const patients = sortPatients(entries(bundle));
        if (!patients.length) {
          mount(region, emptyState(t('demo.empty.title'), t('demo.empty.text'), 'people'));
          return;
        }
        const total = typeof bundle.total === 'number' ? bundle.total : patients.length;
        mount(
          region,
          h(
            'p',
            { class: 'list-meta', role: 'status' },
            tn('demo.count', total),
            total > patients.length && ` — ${t('demo.partial', { shown: patients.length, total })}`,
          ),
          h('ul', { class: 'patient-list', role: 'list', 'aria-label': t('demo.listLabel') }, patients.map(patientCard)),
        );
      })
      .catch((err: unknown) => {
        if (ctx.signal.aborted) return;
        region.removeAttribute('aria-busy');
        mount(region, errorState(err, { onRetry: () => { invalidate('patients'); load(); } }));
      });
  };
  load();
};

function sortPatients(list: Patient[]): Patient[] {
  const coll = new Intl.Collator('fr', { sensitivity: 'base', numeric: true });
  return [...list].sort(
    (a, b) => coll.compare(familyName(a), familyName(b)) || coll.compare(patientName(a), patientName(b)),
  );
}

/** "12 mars 1985 · 39 ans · Homme" */
export function patientFacts(p: Patient): string[] {
  const facts: string[] = [];
  if (p.birthDate) {
    facts.push(formatDate(p.birthDate));
    const age = ageFrom(p.birthDate, p.deceasedDateTime);
    if (age !== undefined && !p.deceasedDateTime && !p.deceasedBoolean) facts.push(tn('demo.age', age));
  } else {
    facts.push(t('demo.unknownBirth'));
  }
  facts.push(genderLabel(p.gender));
  if (p.deceasedDateTime) facts.push(t('demo.deceasedOn', { date: formatDate(p.deceasedDateTime) }));
  else if (p.deceasedBoolean) facts.push(t('demo.deceased'));
  return facts;
}

function patientCard(p: Patient): HTMLElement {
  const name = patientName(p);
  return h(
    'li',
    null,
    h(
      'a',
      { class: 'patient-card', href: pathFor('patient.demoRecord', { id: p.id ?? '' }), 'data-patient-id': p.id },
      h('span', { class: ['avatar', `avatar--${p.gender ?? 'unknown'}`], 'aria-hidden': 'true' }, initials(name)),
      h(
        'span',
        { class: 'patient-card__body' },
        h('span', { class: 'patient-card__name' }, name),
        h('span', { class: 'patient-card__facts' }, patientFacts(p).join(' · ')),
      ),
      icon(ICONS.chevron, 'icon patient-card__chevron'),
    ),
  );
}
