// "/patient/documents" ("Documents"): the record's documents by category, newest first, with
// search and filters (date, author); each opens in the page (PDF and images; text as text,
// never as HTML), downloads, can be masked from professionals, and deleted by whoever
// deposited it. Older versions sit under the document that replaced them; the person deposits
// a file with its type, title and date, or a new version of one they deposited
// (components/document-list.ts, shared with the professional's page).
//   GET /access/records/{pid}/documents                  the list, as this reader may see it
//   GET /fhir/Binary/{id}                                 the content (raw bytes)
//   POST /fhir (transaction: DocumentReference + Binary)  a deposit, or a new version (api/documents.ts)
//   PUT /access/records/{pid}/documents/{type}/{id}      masking
import { h, mount } from '../dom';
import { t } from '../i18n';
import { access } from '../api/access';
import { errorState, loadingState } from '../components/states';
import { formMessages } from '../components/form';
import { forRecordNotice } from '../components/access-bits';
import { depositForm, showDocuments, type DocumentsPage } from '../components/document-list';
import { viewerSection } from '../components/doc-viewer';
import { currentRecord } from '../session';
import type { Renderer } from '../routes';

export const renderDocuments: Renderer = (main, ctx) => {
  const record = currentRecord(ctx.session);
  main.append(h('h1', { id: 'page-title' }, t('page.patient.documents')), h('p', { class: 'lead' }, t('docs.intro')));
  const notice = forRecordNotice(record);
  if (notice) main.append(notice);
  if (!record) {
    main.append(h('p', { class: 'notice notice--info' }, t('access.noRecord')));
    return;
  }
  const pid = record.patient_id;
  // Outlives a reload of the list: "… a été supprimé" stays on screen.
  const status = formMessages();
  const body = h('div', { class: 'documents' });
  const page: DocumentsPage = { pid, side: 'patient', ctx, status, viewer: viewerSection(), reload: () => load() };
  const load = () => {
    mount(body, loadingState(t('state.loading')));
    access
      .documents(pid, ctx.signal)
      .then((docs) => {
        if (!ctx.signal.aborted) showDocuments(body, docs ?? [], page, { title: t('docs.none'), text: t('docs.noneText') });
      })
      .catch((err: unknown) => {
        if (!ctx.signal.aborted) mount(body, errorState(err, { onRetry: load }));
      });
  };
  status.el.dataset.testid = 'documents-status';
  main.append(depositForm(page), status.el, page.viewer, body);
  load();
};
