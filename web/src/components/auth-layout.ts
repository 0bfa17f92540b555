// The frame of the identity pages (login, activation, opposition, reset): one narrow card,
// centred on wide screens, full width on phones.
import { h, type Child } from '../dom';

export function authCard(...children: Child[]): HTMLElement {
  return h('div', { class: 'auth' }, h('div', { class: 'auth__card' }, children));
}

/** The links under the card ("Première visite ?", …). */
export function authAside(...children: Child[]): HTMLElement {
  return h('aside', { class: 'auth__aside' }, children);
}
