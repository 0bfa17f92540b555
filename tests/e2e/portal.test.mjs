// End-to-end test of the Carnet portal, in Debian's Chromium through playwright-core.
//
//   CARNET_URL=http://127.0.0.1:8090 node --test          (from tests/e2e/)
//
// CARNET_URL points at a running server with the demo data loaded (the real `carnet serve`,
// or mock-server.mjs during front-end work). Screenshots go to tests/e2e/artifacts/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const ARTIFACTS = path.join(here, 'artifacts');
const BASE = (process.env.CARNET_URL ?? '').replace(/\/+$/, '');
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };
const TIMEOUT = 20_000;

let browser;
/** The first patient the server lists, as the page will show it. */
let expected;

before(async () => {
  assert.ok(BASE, 'CARNET_URL must be set (e.g. CARNET_URL=http://127.0.0.1:8090)');
  fs.mkdirSync(ARTIFACTS, { recursive: true });

  const res = await fetch(`${BASE}/fhir/Patient?_count=1`, { headers: { Accept: 'application/fhir+json' } });
  assert.equal(res.status, 200, `GET /fhir/Patient?_count=1 answered ${res.status}`);
  const bundle = await res.json();
  assert.equal(bundle.resourceType, 'Bundle');
  const patient = bundle.entry?.[0]?.resource;
  assert.ok(patient?.id, 'the server holds no patient: load the demo data first');
  const name = patient.name?.find((n) => n.use === 'official') ?? patient.name?.[0];
  assert.ok(name?.family, 'the first patient has no family name');
  expected = { id: patient.id, family: name.family };

  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
});

/** A fresh page at the given size, French browser, collecting console errors. */
async function openPage(viewport) {
  const context = await browser.newContext({ viewport, locale: 'fr-FR', timezoneId: 'Europe/Paris', deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const errors = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  return { context, page, errors };
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true, animations: 'disabled' });
}

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

async function h1(page) {
  return (await page.getByRole('heading', { level: 1 }).first().innerText()).trim();
}

/** Opens the first patient's record from the list and checks the sections a person sees. */
async function openRecord(page) {
  const card = page.locator(`a.patient-card[data-patient-id="${expected.id}"]`);
  await card.waitFor();
  assert.match(await card.innerText(), new RegExp(escape(expected.family)));
  await card.click();
  await page.waitForURL(`**/patient/demo/${expected.id}`);
  await page.getByRole('heading', { level: 1, name: new RegExp(escape(expected.family)) }).waitFor();

  // Every section is there, each with a heading a person reads (no FHIR jargon).
  const types = ['Observation', 'Condition', 'Immunization', 'Encounter', 'MedicationRequest', 'DocumentReference'];
  for (const type of types) await page.locator(`section[data-type="${type}"]`).waitFor();

  const obs = page.locator('section[data-type="Observation"]');
  await obs.locator('.count:not([data-count=""])').waitFor();
  const count = Number((await obs.locator('.count').getAttribute('data-count')) ?? 'NaN');
  assert.ok(count > 0, `Observation count should be > 0, got ${count}`);
  await obs.locator('.item').first().waitFor();
  // Wait until no section is still loading.
  await page.waitForFunction(() => document.querySelectorAll('[aria-busy="true"]').length === 0);
  return count;
}

test('phone: header, navigation, demo patients and a record, in French', { timeout: 90_000 }, async () => {
  const { context, page, errors } = await openPage(PHONE);
  try {
    await page.goto(`${BASE}/`);
    await page.waitForURL('**/patient/demo');
    assert.equal(await page.getAttribute('html', 'lang'), 'fr');

    // What a person sees at the top of every page.
    const header = page.getByRole('banner');
    await header.getByRole('link', { name: /Carnet/ }).waitFor();
    const spaces = page.getByRole('navigation', { name: 'Espaces' });
    for (const name of ['Patient', 'Professionnel', 'Opérateur']) {
      await spaces.getByRole('link', { name }).waitFor();
    }
    assert.equal(await spaces.getByRole('link', { name: 'Patient' }).getAttribute('aria-current'), 'true');
    await header.getByRole('button', { name: 'English' }).waitFor();
    assert.equal(await h1(page), 'Patients de démonstration');

    // The skip link is the first thing the keyboard reaches, and it leads to the content.
    await page.keyboard.press('Tab');
    const skip = page.getByRole('link', { name: 'Aller au contenu principal' });
    assert.ok(await skip.evaluate((el) => el === document.activeElement), 'skip link should be focused first');
    assert.ok(await skip.isVisible(), 'skip link should be visible when focused');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.activeElement?.id === 'main');

    // The list, with the server's first patient.
    await page.getByRole('list', { name: 'Liste des patients' }).waitFor();
    await page.getByText(/\d+ patients?/).first().waitFor();
    await page.locator(`a.patient-card[data-patient-id="${expected.id}"]`).waitFor();
    await shot(page, 'demo-patients-phone');

    const count = await openRecord(page);
    const sub = await page.locator('section[data-type="Observation"] .record-section__sub').innerText();
    assert.match(sub, /au total/);
    assert.ok(sub.replace(/\D/g, '').startsWith(String(count)), `"${sub}" should show ${count}`);
    await shot(page, 'patient-record-phone');

    // A visible way back.
    await page.getByRole('link', { name: 'Retour à la liste des patients' }).click();
    await page.waitForURL('**/patient/demo');
    await page.getByRole('heading', { level: 1, name: 'Patients de démonstration' }).waitFor();

    // The space menu is a disclosure on phones; its pages show the designed "coming soon" state.
    const menu = page.getByRole('button', { name: /Menu/ });
    assert.equal(await menu.getAttribute('aria-expanded'), 'false');
    await menu.click();
    assert.equal(await menu.getAttribute('aria-expanded'), 'true');
    const spaceNav = page.getByRole('navigation', { name: 'Pages de l’espace Patient' });
    for (const name of ['Accueil', 'Profil médical', 'Documents', 'Messagerie', 'Services', 'Confidentialité', 'Historique des accès', 'Compte']) {
      await spaceNav.getByRole('link', { name, exact: true }).waitFor();
    }
    await spaceNav.getByRole('link', { name: 'Confidentialité', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Confidentialité' }).waitFor();
    await page.getByText('Bientôt disponible').waitFor();
    await page.getByRole('link', { name: 'Retour à l’accueil de l’espace Patient' }).waitFor();
    await shot(page, 'placeholder-phone');

    // The patient home: the four areas as tiles.
    await page.getByRole('link', { name: 'Retour à l’accueil de l’espace Patient' }).click();
    await page.getByRole('heading', { level: 1, name: 'Bienvenue sur Carnet' }).waitFor();
    await shot(page, 'patient-home-phone');

    assert.deepEqual(errors, [], 'no console error');
  } finally {
    await context.close();
  }
});

test('desktop: sidebar, spaces, language switch to English and back', { timeout: 90_000 }, async () => {
  const { context, page, errors } = await openPage(DESKTOP);
  try {
    await page.goto(`${BASE}/patient/demo`);
    await page.locator(`a.patient-card[data-patient-id="${expected.id}"]`).waitFor();
    const sidebar = page.getByRole('navigation', { name: 'Pages de l’espace Patient' });
    assert.ok(await sidebar.getByRole('link', { name: 'Profil médical' }).isVisible(), 'sidebar visible on desktop');
    assert.equal(
      await sidebar.getByRole('link', { name: 'Patients de démonstration' }).getAttribute('aria-current'),
      'page',
    );
    await shot(page, 'demo-patients-desktop');

    await openRecord(page);
    await shot(page, 'patient-record-desktop');

    // Switch to English: heading, <html lang>, navigation and sections follow.
    await page.getByRole('button', { name: 'English' }).click();
    await page.waitForFunction(() => document.documentElement.lang === 'en');
    await page.getByRole('navigation', { name: 'Spaces' }).getByRole('link', { name: 'Professional' }).waitFor();
    await page.getByRole('heading', { level: 2, name: 'Measurements and results' }).waitFor();
    await page.getByRole('link', { name: 'Back to the patient list' }).click();
    await page.getByRole('heading', { level: 1, name: 'Demo patients' }).waitFor();
    assert.equal(await h1(page), 'Demo patients');
    await page.locator(`a.patient-card[data-patient-id="${expected.id}"]`).waitFor();
    await shot(page, 'demo-patients-en-desktop');

    // The other spaces.
    await page.getByRole('navigation', { name: 'Spaces' }).getByRole('link', { name: 'Operator' }).click();
    await page.getByRole('heading', { level: 1, name: 'Authorization grid' }).waitFor();
    for (const name of ['Directory', 'Catalogue', 'Support']) {
      await page.getByRole('navigation', { name: 'Operator space pages' }).getByRole('link', { name }).waitFor();
    }

    // The choice is remembered; back to French.
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Authorization grid' }).waitFor();
    await page.getByRole('button', { name: 'Français' }).click();
    await page.getByRole('heading', { level: 1, name: 'Grille d’autorisations' }).waitFor();
    assert.equal(await page.getAttribute('html', 'lang'), 'fr');
    await shot(page, 'operator-grid-desktop');

    await page.getByRole('navigation', { name: 'Espaces' }).getByRole('link', { name: 'Professionnel' }).click();
    await page.getByRole('heading', { level: 1, name: 'Rechercher un patient' }).waitFor();

    assert.deepEqual(errors, [], 'no console error');
  } finally {
    await context.close();
  }
});

test('an unknown patient shows the designed error state with the server’s diagnostics', { timeout: 60_000 }, async () => {
  const { context, page } = await openPage(PHONE);
  try {
    // The browser logs the 404 itself: console errors are expected here.
    await page.goto(`${BASE}/patient/demo/inexistant-0000`);
    const alert = page.getByRole('alert');
    await alert.waitFor();
    await alert.getByRole('heading', { name: 'Impossible de charger ces informations' }).waitFor();
    // FHIR errors arrive as OperationOutcome: its diagnostics are shown to the person.
    await alert.getByText('Détail donné par le serveur :').waitFor();
    assert.ok((await alert.locator('.state__diagnostics li').count()) > 0, 'diagnostics listed');
    // A missing record is not worth retrying: no retry button for a 404.
    assert.equal(await alert.getByRole('button', { name: 'Réessayer' }).count(), 0);
    await page.getByRole('link', { name: 'Retour à la liste des patients' }).waitFor();
    await shot(page, 'error-phone');
  } finally {
    await context.close();
  }
});
