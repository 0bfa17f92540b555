// "/patient/annuaire" and "/pro/annuaire": the directory of health professionals.
//   GET /directory/professions → [{ code, label }]
//   GET /directory/professionals?q=&profession= → [{ id, rpps, display_name, profession_label, specialty, organisation }]
// The search is kept in the address (?q=&profession=) so that "back" and a reload keep it.
import { h, icon, ICONS, mount } from '../dom';
import { t, tn } from '../i18n';
import { directory, type Profession, type Professional } from '../api/auth';
import { cached } from '../cache';
import { emptyState, errorState, loadingState } from '../components/states';
import { selectField, textField, uid, whileBusy } from '../components/form';
import { initials } from '../fhir-display';
import type { Renderer } from '../routes';

export const renderDirectory: Renderer = (main, ctx) => {
  const params = new URLSearchParams(location.search);
  const q = textField({ label: t('directory.q'), name: 'q', type: 'search', hint: t('directory.qHint'), optional: true, value: params.get('q') ?? '', spellcheck: false });
  const professionSlot = h('div', { class: 'field-slot' }, loadingState(t('directory.loadingProfessions'), true));
  const submit = h('button', { type: 'submit', class: 'button' }, icon(ICONS.search), t('directory.submit'));
  const results = h('div', { class: 'results', 'aria-live': 'polite' });
  let profession: ReturnType<typeof selectField> | undefined;
  let labels = new Map<string, string>();

  const form = h('form', { class: 'form search-form', role: 'search', novalidate: true, 'aria-label': t('directory.formLabel') }, q.el, professionSlot, h('div', { class: 'form__actions' }, submit));

  const search = (push: boolean) => {
    const text = q.value();
    const code = profession?.input.value ?? params.get('profession') ?? '';
    if (!text && !code) {
      mount(results, h('p', { class: 'panel__empty' }, t('directory.prompt')));
      return;
    }
    if (push) {
      const query = new URLSearchParams();
      if (text) query.set('q', text);
      if (code) query.set('profession', code);
      history.replaceState(null, '', `${location.pathname}?${query.toString()}`);
    }
    mount(results, loadingState(t('directory.searching')));
    results.setAttribute('aria-busy', 'true');
    void whileBusy(submit, async () => {
      try {
        const list = await directory.professionals(text, code, ctx.signal);
        if (ctx.signal.aborted) return;
        results.removeAttribute('aria-busy');
        showResults(list);
      } catch (err) {
        if (ctx.signal.aborted) return;
        results.removeAttribute('aria-busy');
        mount(results, errorState(err, { onRetry: () => search(false) }));
      }
    });
  };

  const showResults = (list: Professional[]) => {
    if (!list.length) {
      mount(results, emptyState(t('directory.none'), t('directory.noneText'), 'search'));
      return;
    }
    const listId = uid('pros');
    mount(
      results,
      h('p', { class: 'list-meta', id: listId }, tn('directory.count', list.length)),
      h('ul', { class: 'cards', role: 'list', 'aria-labelledby': listId }, list.map((p) => card(p, labels))),
    );
  };

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    search(true);
  });

  main.append(
    h('h1', { id: 'page-title' }, t('page.directory')),
    h('p', { class: 'lead' }, t('directory.intro')),
    form,
    results,
  );

  cached('directory:professions', () => directory.professions())
    .then((list: Profession[]) => {
      if (ctx.signal.aborted) return;
      labels = new Map(list.map((p) => [p.code, p.label]));
      profession = selectField({
        label: t('directory.profession'),
        name: 'profession',
        optional: true,
        value: params.get('profession') ?? '',
        options: [{ value: '', label: t('directory.allProfessions') }, ...list.map((p) => ({ value: p.code, label: p.label }))],
      });
      professionSlot.replaceWith(profession.el);
      if (params.get('q') || params.get('profession')) search(false);
      else mount(results, h('p', { class: 'panel__empty' }, t('directory.prompt')));
    })
    .catch((err: unknown) => {
      if (ctx.signal.aborted) return;
      // Searching by name still works without the list of professions.
      mount(professionSlot, errorState(err, { compact: true }));
      if (params.get('q')) search(false);
    });
};

function card(p: Professional, labels: Map<string, string>): HTMLElement {
  const profession = p.profession_label ?? (p.profession ? labels.get(p.profession) ?? p.profession : '');
  return h(
    'li',
    { class: 'card', 'data-rpps': p.rpps },
    h('span', { class: 'avatar', 'aria-hidden': 'true' }, initials(p.display_name.replace(/^Dr\.?\s+/i, ''))),
    h(
      'div',
      { class: 'card__body' },
      h('h2', { class: 'card__title' }, p.display_name),
      h('p', { class: 'card__subtitle' }, [profession, p.specialty].filter(Boolean).join(' · ')),
      p.organisation && h('p', { class: 'card__meta' }, p.organisation),
      p.rpps && h('p', { class: 'card__meta' }, t('directory.rpps'), ' ', h('span', { class: 'mono' }, p.rpps)),
    ),
  );
}
