// "/patient/profil" ("Profil médical"): the record's profile by section, in the order of
// docs/PROFILE.md, each entry with its date, its text and who wrote it ("Vous", "Dr …",
// "Assurance Maladie"); the person adds, edits and deletes the entries the server says they
// may; the vaccination booklet against the French schedule; measurements with the BMI and
// charts over time; advance directives for an adult's record only.
// The same view serves a professional ("/pro/patients/:id/profil", pages/pro-profile.ts):
// `mountProfile` takes the record and the reader's side; what may be added or changed is
// always the server's answer (`can_add`, `editable`), never guessed here.
//   GET /records/{pid}/profile                    the profile, as this reader may see it
//   POST /fhir/{Type}, PUT /fhir/{Type}/{id} (If-Match), DELETE /fhir/{Type}/{id}
// Every text from the server is set as text (the DOM builder never parses HTML).
import { h, icon, mount } from '../dom';
import { formatDate, formatNumber, t, tn, type MessageKey } from '../i18n';
import { profile, SECTION_KEYS, WRITABLE, type BookletLine, type Profile, type ProfileEntry, type SectionKey, type Values } from '../api/profile';
import { backLink, emptyState, errorState, loadingState } from '../components/states';
import { FhirError } from '../api/fhir';
import { errorText, formMessages, uid, whileBusy, type FormMessages } from '../components/form';
import { forRecordNotice } from '../components/access-bits';
import { antigenText, authorText, bookletBadge, describe, entryDateText, lockedText, sectionTitle, sided, type Side } from '../components/profile-bits';
import { lineChart } from '../components/line-chart';
import { entryForm, hasForm } from './profile-forms';
import { currentRecord } from '../session';
import { pathFor, type PageContext, type Renderer } from '../routes';

/** A padlock (decorative: the sentence beside it says it). */
const LOCK = ['M7 11V8a5 5 0 0 1 10 0v3', 'M5 11h14v10H5z'];

/** Entries shown before "Afficher les N autres". */
const FIRST = 5;

const ADD_LABEL: Record<SectionKey, MessageKey> = {
  blood_group: 'profile.add.blood_group',
  organ_donation: 'profile.add.organ_donation',
  lifestyle: 'profile.add.lifestyle',
  measurements: 'profile.add.measurements',
  disability: 'profile.add.disability',
  conditions: 'profile.add.conditions',
  family_history: 'profile.add.family_history',
  allergies: 'profile.add.allergies',
  treatments: 'profile.add.treatments',
  dispensations: 'profile.add.dispensations',
  vaccinations: 'profile.add.vaccinations',
  stays: 'profile.add.stays',
  procedures: 'profile.add.procedures',
  advance_directives: 'profile.add.advance_directives',
  contacts: 'profile.add.contacts',
};

export const renderProfile: Renderer = (main, ctx) => {
  const record = currentRecord(ctx.session);
  main.append(
    backLink(pathFor('patient.home'), t('record.back')),
    h('h1', { id: 'page-title' }, t('page.patient.profile')),
    h('p', { class: 'lead' }, t('profile.intro')),
  );
  const notice = forRecordNotice(record);
  if (notice) main.append(notice);
  if (!record) {
    main.append(h('p', { class: 'notice notice--info' }, t('access.noRecord')));
    return;
  }
  main.append(
    h('p', { class: 'profile-print' },
      h('a', { class: 'button button--secondary', href: pathFor('patient.profileSummary') }, t('profile.printLink'))),
  );
  const body = h('div', { class: 'profile', 'data-testid': 'profile' });
  main.append(body);
  mountProfile(body, { pid: record.patient_id, side: 'patient', ctx });
};

export interface ProfileViewOptions {
  /** The record (its Patient id). */
  pid: string;
  /** Who reads it: the wording follows (the rights are the server's). */
  side: Side;
  ctx: PageContext;
  /** Each profile read, first and after a change (the page's header, its title). */
  onLoad?(p: Profile): void;
  /** What to show when the record cannot be opened (the server answers 404); a plain state otherwise. */
  unavailable?(): Node;
}

/** The profile of a record, by section, in `body`: loading, then the sections or a designed state. */
export function mountProfile(body: HTMLElement, o: ProfileViewOptions): void {
  new ProfilePage(body, o).start();
}

interface SectionView {
  key: SectionKey;
  el: HTMLElement;
  heading: HTMLElement;
  count: HTMLElement;
  status: FormMessages;
  extra: HTMLElement;
  list: HTMLElement;
  more: HTMLElement;
  add: HTMLElement;
  expanded: boolean;
}

class ProfilePage {
  private data: Profile | undefined;
  private sections = new Map<SectionKey, SectionView>();
  private pageStatus = formMessages();

  private readonly pid: string;
  private readonly side: Side;
  private readonly ctx: PageContext;

  constructor(
    private readonly body: HTMLElement,
    private readonly o: ProfileViewOptions,
  ) {
    this.pid = o.pid;
    this.side = o.side;
    this.ctx = o.ctx;
  }

  start(): void {
    mount(this.body, loadingState(t('profile.loading')));
    profile
      .load(this.pid, this.ctx.signal)
      .then((p) => {
        if (this.ctx.signal.aborted) return;
        this.data = p;
        this.o.onLoad?.(p);
        this.skeleton(p);
        this.fill(p);
      })
      .catch((err: unknown) => {
        if (this.ctx.signal.aborted) return;
        // A record this account may not open answers 404, as the FHIR API does.
        if (err instanceof FhirError && (err.status === 404 || err.status === 403)) {
          mount(this.body, this.o.unavailable?.() ?? emptyState(sided(this.side, 'profile.unavailable'), sided(this.side, 'profile.unavailableText'), 'privacy'));
        } else {
          mount(this.body, errorState(err, { onRetry: () => this.start() }));
        }
      });
  }

  /** Reads the profile again after a change; `then` runs once it is shown. */
  private reload(then?: () => void): void {
    this.body.setAttribute('aria-busy', 'true');
    profile
      .load(this.pid, this.ctx.signal)
      .then((p) => {
        if (this.ctx.signal.aborted) return;
        this.data = p;
        this.o.onLoad?.(p);
        this.fill(p);
        then?.();
      })
      .catch((err: unknown) => {
        if (!this.ctx.signal.aborted) this.pageStatus.error(t('profile.reloadFailed', { reason: errorText(err) }));
      })
      .finally(() => this.body.removeAttribute('aria-busy'));
  }

  /** The sections shown for this record: advance directives only in an adult's. */
  private keys(p: Profile): SectionKey[] {
    return SECTION_KEYS.filter((k) => k !== 'advance_directives' || p.patient?.minor !== true);
  }

  private skeleton(p: Profile): void {
    const keys = this.keys(p);
    const toc = h(
      'details',
      { class: 'profile-toc' },
      h('summary', { class: 'profile-toc__summary' }, t('profile.toc')),
      h('nav', { 'aria-label': t('profile.toc') },
        h('ul', { class: 'toc__list', role: 'list' }, keys.map((k) => h('li', null, h('a', { class: 'toc__link', href: `#profil-${k}` }, sectionTitle(k)))))),
    );
    const withheld = h('p', { class: 'notice notice--info profile-withheld', 'data-testid': 'withheld', hidden: true }, sided(this.side, 'profile.withheld'));
    this.pageStatus.el.classList.add('profile-status');
    mount(this.body, toc, withheld, this.pageStatus.el, keys.map((k) => this.sectionSkeleton(k)));
  }

  private sectionSkeleton(key: SectionKey): HTMLElement {
    const id = `profil-${key}`;
    const count = h('span', { class: 'profile-section__count' });
    const heading = h('h2', { id: `${id}-title`, class: 'panel__title profile-section__title', tabindex: '-1' }, sectionTitle(key), count);
    const status = formMessages();
    const extra = h('div', { class: 'profile-section__extra' });
    const list = h('ul', { class: 'rows profile-entries', role: 'list' });
    const more = h('div', { class: 'profile-section__more' });
    const add = h('div', { class: 'profile-section__add' });
    const el = h('section', { class: 'panel profile-section', id, 'aria-labelledby': heading.id, 'data-section': key }, heading, status.el, extra, list, more, add);
    const view: SectionView = { key, el, heading, count, status, extra, list, more, add, expanded: false };
    this.sections.set(key, view);
    return el;
  }

  private fill(p: Profile): void {
    const withheld = this.body.querySelector<HTMLElement>('[data-testid="withheld"]');
    if (withheld) withheld.hidden = !p.withheld;
    for (const view of this.sections.values()) this.fillSection(view, p);
  }

  private entries(p: Profile, key: SectionKey): ProfileEntry[] {
    return p.sections?.[key] ?? [];
  }

  private fillSection(v: SectionView, p: Profile): void {
    const list = this.entries(p, v.key);
    v.count.textContent = list.length ? ` (${list.length})` : '';
    // What the section shows above its entries.
    const listTitle = (key: MessageKey) => (list.length ? h('h3', { class: 'subpanel__title profile-section__list-title' }, t(key)) : null);
    // (A booklet the server leaves out, `null`, is not shown.)
    if (v.key === 'vaccinations') mount(v.extra, p.booklet === null ? null : this.booklet(p), listTitle('profile.vaccinesRecorded'));
    else if (v.key === 'measurements') mount(v.extra, this.measures(p), listTitle('profile.measuresRecorded'));
    else if (v.key === 'contacts') mount(v.extra, h('p', { class: 'panel__intro' }, sided(this.side, 'profile.contactsIntro')));
    else if (v.key === 'advance_directives') mount(v.extra, h('p', { class: 'panel__intro' }, sided(this.side, 'profile.directivesIntro')));
    else if (v.key === 'dispensations') mount(v.extra, h('p', { class: 'panel__intro' }, t('profile.dispensationsIntro')));
    else v.extra.replaceChildren();

    if (!list.length) {
      // With entries withheld, an empty section may not be empty: it says nothing more than that.
      const empty = p.withheld ? 'profile.noneShown' : v.key === 'dispensations' ? 'profile.noDispensation' : 'record.empty';
      mount(v.list, h('li', { class: 'row profile-entries__empty' }, h('p', { class: 'panel__empty' }, t(empty))));
    } else {
      const shown = v.expanded ? list : list.slice(0, FIRST);
      mount(v.list, shown.map((e) => this.entryRow(v, e)));
    }
    if (list.length > FIRST) {
      const toggle = h('button', { type: 'button', class: 'button button--link', 'aria-expanded': String(v.expanded) },
        v.expanded ? t('record.less') : tn('profile.showAll', list.length - FIRST));
      toggle.addEventListener('click', () => {
        v.expanded = !v.expanded;
        this.fillSection(v, p);
        v.more.querySelector('button')?.focus();
      });
      mount(v.more, toggle);
    } else {
      v.more.replaceChildren();
    }
    // A form being filled in elsewhere on the page stays as it is.
    if (!v.add.querySelector('form')) this.fillAdd(v, p);
  }

  private fillAdd(v: SectionView, p: Profile, preset?: Values): void {
    const allowed = !!p.can_add?.[v.key] && WRITABLE.has(v.key) && hasForm(v.key) && (v.key !== 'vaccinations' || !!p.vaccines?.length);
    if (!allowed) {
      v.add.replaceChildren();
      return;
    }
    const formId = uid(`ajout-${v.key}`);
    const slot = h('div', { id: formId, class: 'profile-section__form' });
    const open = h('button', { type: 'button', class: 'button button--secondary profile-add', 'aria-expanded': 'false', 'aria-controls': formId, 'data-add': v.key }, '+ ', t(ADD_LABEL[v.key]));
    const close = (focus: boolean) => {
      slot.replaceChildren();
      open.hidden = false;
      open.setAttribute('aria-expanded', 'false');
      if (focus) open.focus();
    };
    const show = (values?: Values) => {
      const f = entryForm({
        section: v.key, pid: this.pid, side: this.side, profile: p, preset: values, signal: this.ctx.signal,
        onCancel: () => close(true),
        onDone: (name) => {
          close(false);
          this.done(v, t('profile.saved', { name }), () => v.el.querySelector<HTMLButtonElement>('[data-add]')?.focus());
        },
      });
      mount(slot, h('h3', { class: 'subpanel__title' }, t(ADD_LABEL[v.key])), f.el);
      open.hidden = true;
      open.setAttribute('aria-expanded', 'true');
      f.focus();
    };
    open.addEventListener('click', () => show());
    mount(v.add, open, slot);
    if (preset) {
      v.el.scrollIntoView({ block: 'start' });
      show(preset);
    }
  }

  /** After a change: the profile read again, then the section's message and the focus moved. */
  private done(v: SectionView, message: string, focus: () => void): void {
    this.pageStatus.clear();
    v.status.clear();
    this.reload(() => {
      v.status.success(message);
      focus();
    });
  }

  private entryRow(v: SectionView, e: ProfileEntry): HTMLElement {
    const view = describe(e.resource, this.side);
    const date = view.dated ? '' : entryDateText(e);
    const locked = lockedText(e, this.side);
    const actions = h('div', { class: 'row__actions' });
    const editor = h('div', { class: 'row__editor' });
    const row = h(
      'li',
      { class: ['row', 'profile-entry', e.own && 'profile-entry--own'], 'data-entry': `${e.type}/${e.id}`, 'data-author-kind': e.author?.kind ?? '', tabindex: '-1' },
      h('div', { class: 'row__main' },
        h('span', { class: 'row__title' }, view.title),
        view.details.length > 0 && h('span', { class: 'row__meta' }, view.details.join(' · ')),
        view.body && h('p', { class: 'profile-entry__body' }, view.body),
        h('p', { class: 'profile-entry__facts' },
          date && h('span', { class: 'profile-entry__date' }, date),
          h('span', { class: 'profile-entry__author' }, t('profile.author', { name: authorText(e) })),
        ),
        locked && h('p', { class: 'profile-entry__locked' }, icon(LOCK, 'icon profile-entry__lock'), h('span', null, locked)),
      ),
      actions,
      editor,
    );
    if (!e.editable || !WRITABLE.has(v.key) || !hasForm(v.key) || !this.data) return row;

    const named = (label: string) => [label, h('span', { class: 'visually-hidden' }, ` ${view.title}`)];
    const edit = h('button', { type: 'button', class: 'button button--secondary button--small', 'aria-expanded': 'false' }, named(t('profile.edit')));
    const remove = h('button', { type: 'button', class: 'button button--danger-outline button--small' }, named(t('profile.delete')));
    const showActions = () => mount(actions, edit, remove);
    edit.addEventListener('click', () => {
      const p = this.data!;
      const f = entryForm({
        section: v.key, pid: this.pid, side: this.side, profile: p, entry: e, signal: this.ctx.signal,
        onCancel: () => {
          editor.replaceChildren();
          edit.setAttribute('aria-expanded', 'false');
          showActions();
          edit.focus();
        },
        onDone: (name) => {
          this.done(v, t('profile.updated', { name }), () => {
            const again = v.list.querySelector<HTMLElement>(`[data-entry="${CSS.escape(`${e.type}/${e.id}`)}"]`);
            (again ?? v.heading).focus();
          });
        },
      });
      edit.setAttribute('aria-expanded', 'true');
      actions.replaceChildren();
      mount(editor, h('h3', { class: 'subpanel__title' }, t('profile.editTitle', { name: view.title })), f.el);
      f.focus();
    });
    remove.addEventListener('click', () => {
      const id = uid('confirm');
      const yes = h('button', { type: 'button', class: 'button button--danger button--small' }, t('profile.deleteYes'));
      const no = h('button', { type: 'button', class: 'button button--secondary button--small' }, t('form.cancel'));
      const question = h('p', { id, class: 'row__confirm-text', tabindex: '-1' }, t('profile.deleteQuestion', { name: view.title }));
      const messages = formMessages();
      no.addEventListener('click', () => {
        editor.replaceChildren();
        showActions();
        remove.focus();
      });
      yes.addEventListener('click', () => {
        messages.clear();
        void whileBusy(yes, async () => {
          try {
            await profile.remove(e);
            if (this.ctx.signal.aborted) return;
            this.done(v, t('profile.deleted', { name: view.title }), () => v.heading.focus());
          } catch (err) {
            if (!this.ctx.signal.aborted) messages.error(errorText(err, { 404: t('profile.gone'), 403: t('profile.forbidden') }));
          }
        });
      });
      actions.replaceChildren();
      mount(editor, h('div', { class: 'row__confirm', role: 'group', 'aria-labelledby': id }, question, messages.el, h('div', { class: 'form__actions' }, yes, no)));
      question.focus();
    });
    showActions();
    return row;
  }

  // ---------- vaccinations: the booklet ----------

  private booklet(p: Profile): HTMLElement {
    const lines = p.booklet ?? [];
    const headingId = uid('carnet');
    const wrap = h('div', { class: 'booklet', 'data-testid': 'booklet', role: 'group', 'aria-labelledby': headingId },
      h('h3', { id: headingId, class: 'subpanel__title' }, t('profile.booklet.title')),
      h('p', { class: 'panel__intro' }, t('profile.booklet.intro')),
      // Worked out from the vaccinations this reader sees: say so when some are not shown.
      p.withheld ? h('p', { class: 'panel__note', 'data-testid': 'booklet-partial' }, t('profile.booklet.partial')) : null);
    if (!lines.length) {
      wrap.append(h('p', { class: 'panel__empty' }, t('profile.booklet.none')));
      return wrap;
    }
    const counts = new Map<string, number>();
    for (const l of lines) counts.set(l.status, (counts.get(l.status) ?? 0) + 1);
    const summary = (['overdue', 'due', 'upcoming', 'done'] as const)
      .filter((s) => counts.get(s))
      .map((s) => tn(`profile.booklet.count.${s}`, counts.get(s)!));
    if (summary.length) wrap.append(h('p', { class: 'booklet__summary' }, summary.join(' · ')));
    // What is to do (late, due, coming) first; the doses done or never recorded under a disclosure.
    const now = lines.filter((l) => l.status === 'overdue' || l.status === 'due' || l.status === 'upcoming');
    const rest = lines.filter((l) => !now.includes(l));
    wrap.append(now.length
      ? h('ul', { class: 'booklet__lines', role: 'list' }, now.map((l) => this.bookletLine(l, p)))
      : h('p', { class: 'panel__empty' }, t('profile.booklet.nothingToDo')));
    if (rest.length) {
      wrap.append(h('details', { class: 'booklet__rest' },
        h('summary', null, tn('profile.booklet.rest', rest.length)),
        h('ul', { class: 'booklet__lines', role: 'list' }, rest.map((l) => this.bookletLine(l, p)))));
    }
    return wrap;
  }

  private bookletLine(l: BookletLine, p: Profile): HTMLElement {
    const when: string[] = [];
    if (l.status === 'done' && l.given) when.push(t('profile.booklet.given', { date: formatDate(l.given) }));
    else if (l.status === 'overdue' && l.overdue) when.push(t('profile.booklet.overdueSince', { date: formatDate(l.overdue) }));
    else if (l.due) when.push(t(l.status === 'upcoming' ? 'profile.booklet.from' : 'profile.booklet.dueSince', { date: formatDate(l.due) }));
    const canRecord = (l.status === 'overdue' || l.status === 'due') && !!p.can_add?.vaccinations && !!p.vaccines?.some((x) => x.code === l.vaccine);
    let record: HTMLButtonElement | null = null;
    if (canRecord) {
      record = h('button', { type: 'button', class: 'button button--secondary button--small' },
        t('profile.booklet.record'), h('span', { class: 'visually-hidden' }, ` : ${l.label}, ${t('profile.booklet.dose', { n: l.dose })}`));
      record.addEventListener('click', () => {
        const v = this.sections.get('vaccinations');
        if (v) this.fillAdd(v, p, { vaccine: l.vaccine });
      });
    }
    return h(
      'li',
      { class: ['booklet__line', `booklet__line--${l.status}`], 'data-item': l.item, 'data-status': l.status },
      h('div', { class: 'booklet__what' },
        h('span', { class: 'booklet__label' }, l.label),
        /dose|rappel/i.test(l.label) ? null : h('span', { class: 'booklet__dose' }, t('profile.booklet.dose', { n: l.dose }))),
      h('div', { class: 'booklet__when' },
        when.map((w) => h('span', null, w)),
        l.missing?.length && l.status !== 'done' ? h('span', null, t('profile.booklet.missing', { list: l.missing.map(antigenText).join(', ') })) : null),
      h('div', { class: 'booklet__status' }, bookletBadge(l.status), record),
    );
  }

  // ---------- measurements: BMI and charts ----------

  private measures(p: Profile): HTMLElement {
    const wrap = h('div', { class: 'measures' });
    const minor = p.patient?.minor === true;
    const bmi = p.bmi;
    const card = h('div', { class: 'bmi', 'data-testid': 'bmi' }, h('h3', { class: 'subpanel__title' }, t('profile.bmi.title')));
    if (bmi && typeof bmi.value === 'number') {
      card.append(
        h('p', { class: 'bmi__value' }, h('span', { class: 'bmi__number' }, formatNumber(bmi.value)), ' ', h('span', { class: 'bmi__unit' }, 'kg/m²')),
        h('p', { class: 'bmi__when' }, t('profile.bmi.when', { date: formatDate(bmi.date) }),
          typeof bmi.weight_kg === 'number' && typeof bmi.height_cm === 'number' ? ` ${t('profile.bmi.from', { weight: formatNumber(bmi.weight_kg), height: formatNumber(bmi.height_cm) })}` : ''),
        h('p', { class: 'bmi__note' }, t('profile.bmi.server')),
      );
    } else {
      card.append(h('p', { class: 'panel__empty' }, t('profile.bmi.none')));
    }
    if (minor) card.append(h('p', { class: 'notice notice--info bmi__child' }, sided(this.side, 'profile.bmi.child')));
    wrap.append(card);

    const weight = p.series?.weight ?? [];
    const bp = p.series?.blood_pressure ?? [];
    if (weight.length) {
      wrap.append(lineChart({ title: t('profile.chart.weight'), unit: 'kg', testid: 'chart-weight', lines: [{ label: t('profile.measure.weight'), points: weight.map((w) => ({ date: w.date, value: w.value })) }] }));
    }
    if (bp.length) {
      wrap.append(lineChart({
        title: t('profile.chart.bp'), unit: 'mm Hg', testid: 'chart-bp',
        lines: [
          { label: t('profile.chart.systolic'), points: bp.map((b) => ({ date: b.date, value: b.systolic })) },
          { label: t('profile.chart.diastolic'), points: bp.map((b) => ({ date: b.date, value: b.diastolic })), second: true },
        ],
      }));
    }
    if (!weight.length && !bp.length) wrap.append(h('p', { class: 'panel__empty' }, t('profile.chart.none')));
    return wrap;
  }
}
