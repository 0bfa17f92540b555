// Designed loading, empty and error states, shared by every page.
import { h, icon, ICONS, type IconName } from '../dom';
import { FhirError } from '../api/fhir';
import { t } from '../i18n';

export function loadingState(text: string, compact = false): HTMLElement {
  return h(
    'div',
    { class: ['state', 'state--loading', compact && 'state--compact'], role: 'status', 'aria-live': 'polite' },
    h('span', { class: 'spinner', 'aria-hidden': 'true' }),
    h('p', { class: 'state__text' }, text),
  );
}

export function emptyState(title: string, text: string, iconName: IconName = 'empty', ...extra: Node[]): HTMLElement {
  return h(
    'div',
    { class: 'state state--empty' },
    h('div', { class: 'state__icon' }, icon(ICONS[iconName])),
    h('h2', { class: 'state__title' }, title),
    h('p', { class: 'state__text' }, text),
    ...extra,
  );
}

/** The person-facing explanation of an error, with the server's OperationOutcome diagnostics. */
export interface ErrorStateOptions {
  onRetry?: () => void;
  /** Smaller variant used inside a section. */
  compact?: boolean;
  /** Heading level of the title (1 when the error is the whole page). */
  level?: 1 | 2 | 3;
}

export function errorState(err: unknown, { onRetry, compact = false, level }: ErrorStateOptions = {}): HTMLElement {
  let message: string;
  let diagnostics: string[] = [];
  if (err instanceof FhirError) {
    if (err.kind === 'network') message = t('error.network');
    else if (err.kind === 'parse') message = t('error.badResponse');
    else message = t('error.http', { status: err.status });
    diagnostics = err.diagnostics;
  } else {
    message = t('error.network');
  }
  return h(
    'div',
    { class: ['state', 'state--error', compact && 'state--compact'], role: 'alert' },
    h('div', { class: 'state__icon' }, icon(ICONS.alert)),
    h(`h${level ?? (compact ? 3 : 2)}` as 'h2', { class: 'state__title' }, compact ? t('record.sectionError') : t('error.title')),
    h('p', { class: 'state__text' }, message),
    diagnostics.length > 0 &&
      h(
        'div',
        { class: 'state__details' },
        h('p', { class: 'state__details-label' }, t('error.details')),
        h('ul', { class: 'state__diagnostics' }, diagnostics.map((d) => h('li', null, d))),
      ),
    onRetry && isTransient(err) && h('button', { type: 'button', class: 'button button--secondary', on: { click: onRetry } }, t('state.retry')),
  );
}

/** Worth retrying: network trouble, timeouts, overload and server errors — not a 404 or a 400. */
export function isTransient(err: unknown): boolean {
  if (!(err instanceof FhirError)) return true;
  return err.kind !== 'http' || err.status >= 500 || err.status === 408 || err.status === 429;
}

export function backLink(href: string, label: string): HTMLElement {
  return h('a', { class: 'back-link', href }, icon(ICONS.back), h('span', null, label));
}
