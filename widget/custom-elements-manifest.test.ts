import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/** The manifest `npm run build` generates from the element's JSDoc (npm test builds first). */
interface Manifest {
  modules: { declarations?: { tagName?: string; attributes?: { name: string }[]; events?: { name: string }[]; cssParts?: { name: string; description?: string }[]; cssProperties?: { name: string }[] }[] }[];
}

const root = join(import.meta.dirname, '..');
const manifest = JSON.parse(readFileSync(join(root, 'dist', 'custom-elements.json'), 'utf8')) as Manifest;
const element = manifest.modules.flatMap((m) => m.declarations ?? []).find((d) => d.tagName === 'anon-chat');

const widgetSources = readdirSync(join(root, 'widget'), { recursive: true, encoding: 'utf8' })
  .filter((file) => file.endsWith('.ts') && !file.endsWith('.test.ts'))
  .map((file) => readFileSync(join(root, 'widget', file), 'utf8'));
const all = (pattern: RegExp): string[] => [...new Set(widgetSources.flatMap((source) => [...source.matchAll(pattern)].map((m) => m[1] ?? '')))];

describe('custom-elements manifest (dist/custom-elements.json)', () => {
  it('declares <anon-chat> with every attribute the element reads', () => {
    expect(element).toBeDefined();
    const documented = new Set(element?.attributes?.map((a) => a.name));
    const source = readFileSync(join(root, 'widget', 'anon-chat.ts'), 'utf8');
    const properties = source.slice(source.indexOf('static override properties'), source.indexOf('};', source.indexOf('static override properties')));
    const reflected = [...properties.matchAll(/^\s+(\w+): \{([^}]*)\}/gm)]
      .filter(([, , options]) => !/state: true|attribute: false/.test(options ?? ''))
      .map(([, name, options]) => /attribute: '([^']+)'/.exec(options ?? '')?.[1] ?? (name ?? '').toLowerCase());
    const read = all(/(?:getAttribute|hasAttribute)\('([a-z-]+)'\)/g);
    for (const name of [...reflected, ...read]) expect(documented, `@attr ${name}`).toContain(name);
  });

  it('reads every @attr, @fires, @csspart and @cssproperty of the JSDoc block', () => {
    const source = readFileSync(join(root, 'widget', 'anon-chat.ts'), 'utf8');
    const tagged = (tag: string): string[] => [...source.matchAll(new RegExp(`^ \\* @${tag} ([\\w-]+)`, 'gm'))].map((m) => m[1] ?? '');
    const read = {
      attr: element?.attributes,
      fires: element?.events,
      csspart: element?.cssParts,
      cssproperty: element?.cssProperties,
    };
    for (const [tag, entries] of Object.entries(read)) {
      const names = tagged(tag);
      expect(names.length, `@${tag} tags in the JSDoc`).toBeGreaterThan(0);
      expect(entries?.map((entry) => entry.name).sort(), `@${tag}`).toEqual(names.sort());
    }
  });

  it('lists every event the widget fires', () => {
    const documented = new Set(element?.events?.map((e) => e.name));
    for (const name of all(/emit\([^,]+, '([a-z-]+)'/g)) expect(documented, `@fires ${name}`).toContain(name);
  });

  it('lists every part and custom property the templates and styles use', () => {
    const parts = element?.cssParts?.map((p) => `${p.name} ${p.description ?? ''}`).join('\n') ?? '';
    const used = all(/part="([^"$]+)/g).flatMap((value) => value.trim().split(/\s+/)).filter((name) => !name.endsWith('-'));
    for (const name of used) expect(parts, `@csspart ${name}`).toMatch(new RegExp(`(^|[\\s\`])${name}[\\s\`]`, 'm'));
    const properties = new Set(element?.cssProperties?.map((p) => p.name));
    // Colours the styles derive for themselves (e.g. --anon-chat-bubble-other) are set, not read from the page.
    const read = all(/var\((--anon-chat-[a-z-]+)/g).filter((name) => !widgetSources.some((s) => s.includes(`${name}:`)));
    for (const name of read) expect(properties, `@cssproperty ${name}`).toContain(name);
  });
});
