import { describe, expect, it } from 'vitest';
import { builtInStrings, fill, LOADABLE_LANGUAGES, resolveLanguage, resolveStrings, textDirection } from './index.ts';
import { loadableStrings } from './loadable.ts';

describe('i18n', () => {
  it('picks the exact tag, then the language, then English', () => {
    expect(resolveStrings('de').send).toBe('Senden');
    expect(resolveStrings('de-AT').send).toBe('Senden');
    expect(resolveStrings('ES-mx').send).toBe('Enviar');
    expect(resolveStrings('xx').send).toBe('Send');
  });

  it('lets every string be overridden', () => {
    const s = resolveStrings('de', { send: 'Los' });
    expect(s.send).toBe('Los');
    expect(s.placeholder).toBe(builtInStrings.de!.placeholder);
  });

  it('translations cover every English key', () => {
    const keys = Object.keys(builtInStrings.en!).sort();
    for (const strings of [...Object.values(builtInStrings), ...Object.values(loadableStrings)]) expect(Object.keys(strings).sort()).toEqual(keys);
    expect(Object.keys(loadableStrings).sort()).toEqual([...LOADABLE_LANGUAGES].sort());
  });

  it('fills placeholders and leaves unknown ones visible', () => {
    expect(fill('{name} is typing…', { name: 'Ann' })).toBe('Ann is typing…');
    expect(fill('{count}/{max} {oops}', { count: 3, max: 10 })).toBe('3/10 {oops}');
  });

  it('names the language the UI speaks, and its direction: Arabic and Hebrew right to left', () => {
    expect(resolveLanguage('de-AT')).toBe('de');
    expect(resolveLanguage('fr')).toBe('en');
    // Loadable languages show in English until their file has arrived.
    expect(resolveStrings('he').send).toBe('Send');
    expect(resolveStrings('he', undefined, new Map(Object.entries(loadableStrings))).send).toBe('שליחה');
    expect(resolveStrings('ar-EG', undefined, new Map(Object.entries(loadableStrings))).send).toBe('إرسال');
    expect(textDirection(resolveLanguage('ar-EG'))).toBe('rtl');
    expect(textDirection(resolveLanguage('he-IL'))).toBe('rtl');
    expect(textDirection(resolveLanguage('de'))).toBe('ltr');
  });
});
