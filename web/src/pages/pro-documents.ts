// "/pro/patients/:id/documents": a patient's documents as a professional may read them, with
// the same list, filters and viewer as the patient's page (components/document-list.ts). The
// server decides everything (docs/DOCUMENTS.md):
//   GET /records/{pid}/documents   only what the grid and the patient allow; `withheld` when
//                                  something was left out (one plain line, never which)
//   POST /fhir                     a deposit: the DocumentReference and its Binary in one
//                                  transaction; a new version `relatesTo` replaces the old one
//   POST /records/{pid}/documents/{id}/retract   the author withdraws their document
// A record they may not open answers 404: the designed "not available" state, with the way
// back to the patient's page and to the code a patient can hand over.
import { h, icon, ICONS, mount } from '../dom';
import { t } from '../i18n';
import { access } from '../api/access';
import { documents } from '../api/documents';
import { backLink, emptyState, errorState, loadingState } from '../components/states';
import { formMessages } from '../components/form';
import { depositForm, showDocuments, type DocumentsPage } from '../components/document-list';
import { viewerSection } from '../components/doc-viewer';
import { navigate } from '../navigation';
import { pathFor, type Renderer } from '../routes';

export const renderProDocuments: Renderer = (main, ctx) => {
  const id = ctx.params.id ?? '';
  if (!id) {
    navigate(pathFor('pro.patients'), { replace: true });
    return;
  }
  const recordPath = pathFor('pro.patient', { id });
  const title = h('h1', { id: 'page-title' }, t('page.pro.documents'));
  const intro = h('p', { class: 'lead' }, t('pro.docs.intro'));
  const withheld = h('p', { class: 'notice notice--info', 'data-testid': 'withheld', hidden: true }, t('pro.docs.withheld'));
  const status = formMessages();
  status.el.dataset.testid = 'documents-status';
  const deposit = h('div', { class: 'deposit-slot' });
  const body = h('div', { class: 'documents' });
  const page: DocumentsPage = { pid: id, side: 'professional', ctx, status, viewer: viewerSection(), reload: () => load() };
  main.append(backLink(recordPath, t('pro.backToRecord')), title, intro, withheld, deposit, status.el, page.viewer, body);

  // Whose documents: the name from the patients this professional may open (best effort).
  access
    .patients(ctx.signal)
    .then((list) => {
      const p = list?.find((r) => r.patient_id === id);
      if (!p || ctx.signal.aborted) return;
      title.textContent = t('pro.docs.title', { name: p.name });
      document.title = `${t('pro.docs.title', { name: p.name })} — ${t('app.titleSuffix')}`;
    })
    .catch(() => undefined);

  let depositShown = false;
  const load = () => {
    mount(body, loadingState(t('state.loading')));
    documents
      .list(id, ctx.signal)
      .then((answer) => {
        if (ctx.signal.aborted) return;
        withheld.hidden = !answer.withheld;
        if (answer.can_deposit && !depositShown) {
          depositShown = true;
          mount(deposit, depositForm(page));
        }
        showDocuments(body, answer.documents ?? [], page, {
          title: t('docs.none'),
          text: answer.withheld ? t('pro.docs.noneShown') : t('pro.docs.noneText'),
        });
      })
      .catch((err: unknown) => {
        if (ctx.signal.aborted) return;
        const code = (err as { status?: number } | null)?.status;
        if (code === 404 || code === 403) {
          intro.hidden = true;
          deposit.replaceChildren();
          mount(
            body,
            emptyState(t('pro.docs.unavailable'), t('pro.docs.unavailableText'), 'privacy',
              h('div', { class: 'form__actions state__actions' },
                h('a', { class: 'button', href: recordPath }, t('pro.backToRecord')),
                h('a', { class: 'button button--secondary', href: pathFor('pro.code') }, icon(ICONS.key), t('pro.enterCode')),
              ),
            ),
          );
          return;
        }
        mount(body, errorState(err, { onRetry: load }));
      });
  };
  load();
};
