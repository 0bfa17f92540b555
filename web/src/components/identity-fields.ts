// Fields shared by the identity pages: the new-password policy, the contact (e-mail or mobile
// phone) whose label and keyboard follow the chosen channel, and where a 400 belongs.
import { t } from '../i18n';
import type { AuthError, ContactChannel } from '../api/auth';
import { digits, radioGroup, textField, type Field } from './form';

export const MIN_PASSWORD = 12;

/** The password policy, as shown under every new-password field. */
export function passwordPolicy(): string {
  return t('password.policy', { n: MIN_PASSWORD });
}

/** Client-side check (the server decides: its 400 message is shown under the field). */
export function checkNewPassword(value: string): string | undefined {
  if (!value) return t('password.required');
  if ([...value].length < MIN_PASSWORD) return t('password.tooShort', { n: MIN_PASSWORD });
  return undefined;
}

/** Where a 400 of the server belongs: the contact field when it names it, else the password. */
export function isAddressError(err: AuthError): boolean {
  const f = err.field ?? '';
  if (/address|email|phone|channel/.test(f)) return true;
  if (f) return false;
  return /adresse|e-mail|courriel|téléphone|numéro/i.test(err.diagnostics[0] ?? '');
}

/** A contact field whose label and keyboard follow the chosen channel. */
export function contactInputs(initial: ContactChannel = 'email'): { group: ReturnType<typeof radioGroup>; address: Field; channel(): ContactChannel } {
  const group = radioGroup({
    legend: t('contact.legend'),
    name: 'channel',
    hint: t('contact.legendHint'),
    value: initial,
    options: [
      { value: 'email', label: t('contact.email') },
      { value: 'sms', label: t('contact.sms') },
    ],
  });
  const address = textField({ label: '', name: 'address', spellcheck: false, autocapitalize: 'none' });
  const label = address.el.querySelector('label')!;
  const apply = (ch: ContactChannel) => {
    label.textContent = ch === 'email' ? t('contact.emailLabel') : t('contact.smsLabel');
    address.input.type = ch === 'email' ? 'email' : 'tel';
    address.input.autocomplete = ch === 'email' ? 'email' : 'tel';
    address.input.inputMode = ch === 'email' ? 'email' : 'tel';
  };
  apply(initial);
  for (const input of group.inputs) input.addEventListener('change', () => apply(group.value() as ContactChannel));
  return { group, address, channel: () => (group.value() === 'sms' ? 'sms' : 'email') };
}

export function checkAddress(channel: ContactChannel, value: string): string | undefined {
  if (!value) return channel === 'email' ? t('contact.emailRequired') : t('contact.smsRequired');
  if (channel === 'email' && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value)) return t('contact.emailInvalid');
  if (channel === 'sms' && digits(value).replace(/^\+/, '').replace(/\D/g, '').length < 9) return t('contact.smsInvalid');
  return undefined;
}
