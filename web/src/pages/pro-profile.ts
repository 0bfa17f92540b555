// "/pro/patients/:id/profil": a patient's medical profile as a professional may read it — the
// same view as the patient's "Profil médical" (pages/profile.ts), with the professional's
// wording. The server decides everything (docs/PROFILE.md):
//   GET /records/{pid}/profile   only the entries the grid and the patient allow; `withheld`
//                                when some are not shown (said in one plain line, never which);
//                                `can_add[section]` per the grid; `editable` on their own entries
//   POST/PUT/DELETE /fhir/{Type} the same templates as the patient's; the author is them
// A record they may not open answers 404: the designed "not available" state, with the way
// back to the patient's page and to the code a patient can hand over.
import { h, icon, ICONS } from '../dom';
import { formatDate, t, tn } from '../i18n';
import type { Profile } from '../api/profile';
import { backLink, emptyState } from '../components/states';
import { sided } from '../components/profile-bits';
import { initials } from '../fhir-display';
import { mountProfile } from './profile';
import { navigate } from '../navigation';
import { pathFor, type Renderer } from '../routes';

export const renderProProfile: Renderer = (main, ctx) => {
  const id = ctx.params.id ?? '';
  if (!id) {
    navigate(pathFor('pro.patients'), { replace: true });
    return;
  }
  const recordPath = pathFor('pro.patient', { id });
  // Until the profile says whose it is, the heading is the page's.
  const title = h('h1', { id: 'page-title', class: 'patient-head__name' }, t('page.pro.profile'));
  const avatar = h('span', { class: ['avatar', 'avatar--lg'], 'aria-hidden': 'true', hidden: true });
  const facts = h('p', { class: 'profile-head__facts', hidden: true });
  const eyebrow = h('p', { class: 'eyebrow', hidden: true }, t('pro.profileEyebrow'));
  const head = h(
    'section',
    { class: 'patient-head profile-head', 'aria-labelledby': 'page-title' },
    avatar,
    h('div', { class: 'patient-head__body' }, eyebrow, title, facts),
  );
  const intro = h('p', { class: 'lead' }, sided('professional', 'profile.intro'));
  const body = h('div', { class: 'profile', 'data-testid': 'profile' });
  main.append(backLink(recordPath, t('pro.backToRecord')), head, intro, body);

  const named = (p: Profile) => {
    const name = p.patient?.name?.trim() || t('pro.thisPatient');
    title.textContent = name;
    eyebrow.hidden = false;
    avatar.textContent = initials(name);
    avatar.hidden = false;
    avatar.className = `avatar avatar--lg avatar--${p.patient?.gender || 'unknown'}`;
    const parts: string[] = [];
    if (typeof p.patient?.age === 'number') parts.push(tn('demo.age', p.patient.age));
    if (p.patient?.birth_date) parts.push(t('profile.summary.born', { date: formatDate(p.patient.birth_date) }));
    facts.textContent = parts.join(' · ');
    facts.hidden = !parts.length;
    document.title = `${t('pro.profileTitle', { name })} — ${t('app.titleSuffix')}`;
  };

  mountProfile(body, {
    pid: id,
    side: 'professional',
    ctx,
    onLoad: named,
    unavailable: () => {
      intro.hidden = true;
      return emptyState(
        sided('professional', 'profile.unavailable'),
        sided('professional', 'profile.unavailableText'),
        'privacy',
        h('div', { class: 'form__actions state__actions' },
          h('a', { class: 'button', href: recordPath }, t('pro.backToRecord')),
          h('a', { class: 'button button--secondary', href: pathFor('pro.code') }, icon(ICONS.key), t('pro.enterCode')),
        ),
      );
    },
  });
};
