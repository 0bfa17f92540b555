// A document opened in the page, as pages/documents.ts shows it: the content is fetched from
// GET /fhir/Binary/{id} into an object URL; a PDF in a frame, an image as an image, text as
// text (textContent: nothing in a document becomes markup), anything else with a download
// link. Used by the documents lists (components/document-list.ts) and the messaging pages.
import { h, mount } from '../dom';
import { t } from '../i18n';
import { documents } from '../api/documents';

/** The viewer's object URL, released when another document is opened or the viewer closes. */
let shownUrl: string | undefined;

function release(): void {
  if (shownUrl) URL.revokeObjectURL(shownUrl);
  shownUrl = undefined;
}

export function fileName(title: string): string {
  return title.replace(/[^\p{L}\p{N} _-]+/gu, '').trim() || 'document';
}

/** A document's size for a list line ("240 Ko", "1.2 Mo"); "" when unknown. */
export function sizeText(bytes: number | undefined): string {
  if (!bytes) return '';
  if (bytes < 1024 * 1024) return t('docs.kb', { n: Math.max(1, Math.round(bytes / 1024)) });
  return t('docs.mb', { n: (bytes / (1024 * 1024)).toFixed(1) });
}

/** An empty, hidden viewer section to give to `openInViewer`. */
export function viewerSection(): HTMLElement {
  return h('section', { class: 'viewer', hidden: true, 'aria-label': t('docs.viewer'), 'data-testid': 'viewer' });
}

/**
 * Fetches the document's content and shows it in `viewer`; throws the API error (the caller
 * says it where the person looks). `onClose` runs when the person closes it (focus back).
 */
export async function openInViewer(viewer: HTMLElement, binaryId: string, title: string, signal: AbortSignal, onClose?: () => void): Promise<void> {
  const blob = await documents.content(binaryId, signal);
  if (signal.aborted) return;
  release();
  const close = h('button', { type: 'button', class: 'button button--secondary viewer__close' }, t('docs.close'));
  close.addEventListener('click', () => {
    viewer.hidden = true;
    viewer.replaceChildren();
    release();
    onClose?.();
  });
  let content: HTMLElement;
  // The type the server found in the bytes decides how it is shown.
  if (blob.type === 'application/pdf') {
    shownUrl = URL.createObjectURL(new Blob([blob], { type: 'application/pdf' }));
    content = h('iframe', { class: 'viewer__frame', src: shownUrl, title });
  } else if (blob.type === 'image/jpeg' || blob.type === 'image/png') {
    shownUrl = URL.createObjectURL(new Blob([blob], { type: blob.type }));
    content = h('img', { class: 'viewer__image', src: shownUrl, alt: title });
  } else if (blob.type.startsWith('text/plain')) {
    content = h('pre', { class: 'viewer__text' });
    content.textContent = await blob.text();
  } else {
    shownUrl = URL.createObjectURL(blob);
    content = h('p', { class: 'notice notice--info' }, t('docs.noPreview'), ' ', h('a', { href: shownUrl, download: fileName(title) }, t('docs.download')));
  }
  mount(viewer, h('div', { class: 'viewer__head' }, h('h2', { class: 'viewer__title' }, title), close), content);
  viewer.hidden = false;
  viewer.scrollIntoView({ block: 'start' });
  close.focus();
}

/** Saves the document's content under its title (a download, no preview). */
export async function downloadContent(binaryId: string, title: string, signal: AbortSignal): Promise<void> {
  const blob = await documents.content(binaryId, signal);
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: fileName(title) });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
