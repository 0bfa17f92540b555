// The record shown in the patient space ("/patient/dossier"): what it holds, by type, with
// counts and the most recent items. It is the session's own (`patient_id`), or the one chosen
// in the record switcher among the session's `records` (a child's, a caregiver's) — never one
// from the address: the server decides what this session may read.
//   GET /fhir/Patient/{id}
//   GET /fhir/{Type}?patient={id}&_count=20&_sort={sort}   (the most recent items)
//   GET /fhir/{Type}?patient={id}&_summary=count            (Bundle.total)
import { h, icon, ICONS, mount, type IconName } from '../dom';
import { entries, fhir, type Bundle, type Patient, type Resource } from '../api/fhir';
import { ageFrom, formatDate, formatNumber, t, tn } from '../i18n';
import { cached, invalidate } from '../cache';
import { backLink, emptyState, errorState, loadingState } from '../components/states';
import { byDateDesc, genderLabel, initials, itemView, patientName, RECORD_TYPES, type ItemView, type RecordType } from '../fhir-display';
import { pathFor, type PageContext, type Renderer } from '../routes';
import { currentRecord, recordIdOf } from '../session';

const RECENT = 20;
const VISIBLE = 5;

/** Sort parameter per type: the standard R4 date search parameter of each resource. */
export const SORT: Record<RecordType, string> = {
  Observation: '-date',
  Condition: '-recorded-date',
  Immunization: '-date',
  Encounter: '-date',
  MedicationRequest: '-authoredon',
  DocumentReference: '-date',
};

const TYPE_ICON: Record<RecordType, IconName> = {
  Observation: 'observation',
  Condition: 'condition',
  Immunization: 'immunization',
  Encounter: 'encounter',
  MedicationRequest: 'medication',
  DocumentReference: 'document',
};

interface SectionData {
  items: ItemView[];
  total: number | undefined;
}

function loadSection(type: RecordType, id: string): Promise<SectionData> {
  return cached(`record:${id}:${type}`, async () => {
    const [list, count] = await Promise.allSettled([
      fhir.search(type, { patient: id, _count: RECENT, _sort: SORT[type] }),
      fhir.count(type, { patient: id }),
    ]);
    if (list.status === 'rejected') throw list.reason;
    const bundle = list.value as Bundle<Resource>;
    const items = entries(bundle)
      .map((r) => itemView(r as Parameters<typeof itemView>[0]))
      .sort(byDateDesc)
      .slice(0, RECENT);
    const total =
      count.status === 'fulfilled' && count.value !== undefined
        ? count.value
        : typeof bundle.total === 'number'
          ? bundle.total
          : undefined;
    return { items, total };
  });
}

/** "12 mars 1985 · 39 ans · Femme" */
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

export const renderOwnRecord: Renderer = (main, ctx) => {
  const id = recordIdOf(ctx.session);
  main.append(backLink(pathFor('patient.home'), t('record.back')));
  if (!id) {
    main.append(h('h1', { id: 'page-title' }, t('page.patient.record')), emptyState(t('record.none.title'), t('record.none.text'), 'document'));
    return;
  }
  renderRecord(main, id, ctx);
};

/** "Mon dossier", or whose record it is when acting for someone else. */
function eyebrow(ctx: PageContext): string {
  const relation = currentRecord(ctx.session)?.relation;
  if (relation === 'representative') return t('record.eyebrowChild');
  if (relation === 'caregiver') return t('record.eyebrowCaregiver');
  return t('record.eyebrow');
}

/**
 * A record's header and sections. Also the professional's view of a patient
 * ("/pro/patients/:id", pages/pro-access.ts), with its own eyebrow; `onError` lets that page
 * add what a professional can do when the record cannot be read; `afterHead` goes between the
 * header and the sections (that page's way to the medical profile).
 */
export function renderRecord(main: HTMLElement, id: string, ctx: PageContext, opts: { eyebrow?: string; onError?: (err: unknown) => void; afterHead?: HTMLElement } = {}): void {
  const head = h('div', { class: 'record-head' });
  const body = h('div', { class: 'record-body' });
  main.append(head, ...(opts.afterHead ? [opts.afterHead] : []), body);

  const load = () => {
    mount(head, loadingState(t('record.loading')));
    // The sections load in parallel with the patient; hidden again if the patient can't be read.
    renderSections(body, id, ctx);
    cached(`patient:${id}`, () => fhir.read('Patient', id))
      .then((patient) => {
        if (ctx.signal.aborted) return;
        const name = patientName(patient);
        document.title = `${name} — ${t('app.titleSuffix')}`;
        mount(head, patientHeader(patient, opts.eyebrow ?? eyebrow(ctx)));
      })
      .catch((err: unknown) => {
        if (ctx.signal.aborted) return;
        body.replaceChildren();
        opts.onError?.(err);
        mount(
          head,
          errorState(err, {
            level: 1,
            onRetry: () => {
              invalidate(`patient:${id}`);
              invalidate(`record:${id}:`);
              load();
            },
          }),
        );
      });
  };
  load();
}

function patientHeader(p: Patient, eyebrowText: string): HTMLElement {
  const name = patientName(p);
  return h(
    'section',
    { class: 'patient-head', 'aria-labelledby': 'page-title' },
    h('span', { class: ['avatar', 'avatar--lg', `avatar--${p.gender ?? 'unknown'}`], 'aria-hidden': 'true' }, initials(name)),
    h(
      'div',
      { class: 'patient-head__body' },
      h('p', { class: 'eyebrow' }, eyebrowText),
      h('h1', { id: 'page-title', class: 'patient-head__name' }, name),
      h(
        'dl',
        { class: 'facts' },
        h('div', { class: 'facts__item' }, h('dt', null, t('demo.born')), h('dd', null, patientFacts(p).filter((f) => f !== genderLabel(p.gender)).join(' · '))),
        h('div', { class: 'facts__item' }, h('dt', null, t('record.gender')), h('dd', null, genderLabel(p.gender))),
      ),
    ),
  );
}

function renderSections(body: HTMLElement, id: string, ctx: PageContext): void {
  const summary = h('ul', { class: 'summary', role: 'list' });
  const grid = h('div', { class: 'record-grid' });
  mount(
    body,
    h('nav', { class: 'summary-nav', 'aria-labelledby': 'summary-title' },
      h('h2', { id: 'summary-title', class: 'section-title' }, t('record.summary')),
      summary,
    ),
    grid,
  );
  for (const type of RECORD_TYPES) {
    const chipCount = h('span', { class: 'summary__count', 'data-count': '' }, '…');
    summary.append(
      h('li', null,
        h('a', { class: 'summary__chip', href: `#section-${type}`, 'data-type': type },
          icon(ICONS[TYPE_ICON[type]]),
          h('span', { class: 'summary__label' }, t(`type.${type}` as const)),
          chipCount,
        ),
      ),
    );
    const section = h('section', { class: 'record-section', id: `section-${type}`, 'data-type': type, 'aria-labelledby': `title-${type}`, tabindex: '-1' });
    grid.append(section);
    fillSection(section, chipCount, type, id, ctx);
  }
}

function fillSection(section: HTMLElement, chipCount: HTMLElement, type: RecordType, id: string, ctx: PageContext): void {
  const countEl = h('span', { class: 'count', 'data-count': '', 'aria-hidden': 'true' }, '…');
  const sub = h('p', { class: 'record-section__sub' });
  const content = h('div', { class: 'record-section__content' });
  mount(
    section,
    h('div', { class: 'record-section__head' },
      h('span', { class: `type-icon type-icon--${type}` }, icon(ICONS[TYPE_ICON[type]])),
      h('h2', { id: `title-${type}`, class: 'record-section__title' }, t(`type.${type}` as const)),
      countEl,
    ),
    sub,
    content,
  );
  section.setAttribute('aria-busy', 'true');
  mount(content, loadingState(t('record.sectionsLoading'), true));

  loadSection(type, id)
    .then(({ items, total }) => {
      if (ctx.signal.aborted) return;
      section.removeAttribute('aria-busy');
      const shownTotal = total ?? items.length;
      const countText = total === undefined ? '—' : String(total);
      countEl.textContent = total === undefined ? '—' : formatNumber(total);
      countEl.dataset.count = countText;
      chipCount.textContent = countEl.textContent;
      chipCount.dataset.count = countText;
      sub.textContent =
        total === undefined
          ? t('record.count.unknown')
          : items.length
            ? `${tn('record.total', shownTotal)} · ${t('record.recent')}`
            : tn('record.total', shownTotal);
      if (!items.length) {
        mount(content, h('p', { class: 'record-section__empty' }, t('record.empty')));
        return;
      }
      const list = h('ol', { class: 'items', role: 'list' });
      const renderItems = (all: boolean) =>
        mount(list, (all ? items : items.slice(0, VISIBLE)).map(itemRow));
      renderItems(false);
      mount(content, list);
      if (items.length > VISIBLE) {
        let expanded = false;
        const more = h('button', { type: 'button', class: 'button button--link', 'aria-expanded': 'false' }, t('record.more', { n: items.length - VISIBLE }));
        more.addEventListener('click', () => {
          expanded = !expanded;
          renderItems(expanded);
          more.setAttribute('aria-expanded', String(expanded));
          more.textContent = expanded ? t('record.less') : t('record.more', { n: items.length - VISIBLE });
        });
        content.append(more);
      }
    })
    .catch((err: unknown) => {
      if (ctx.signal.aborted) return;
      section.removeAttribute('aria-busy');
      countEl.hidden = true;
      chipCount.textContent = '—';
      sub.textContent = '';
      mount(
        content,
        errorState(err, {
          compact: true,
          onRetry: () => {
            invalidate(`record:${id}:${type}`);
            fillSection(section, chipCount, type, id, ctx);
          },
        }),
      );
    });
}

function itemRow(item: ItemView): HTMLElement {
  const date = formatDate(item.date, 'short');
  return h(
    'li',
    { class: 'item' },
    h('div', { class: 'item__main' },
      h('span', { class: 'item__title' }, item.title),
      item.detail && h('span', { class: 'item__detail' }, item.detail),
    ),
    date
      ? h('time', { class: 'item__date', datetime: item.date }, date)
      : h('span', { class: 'item__date item__date--none' }, t('record.noDate')),
  );
}

