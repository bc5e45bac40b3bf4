/** Replaces `{name}` placeholders; unknown ones stay visible so a broken override is noticed, not hidden. */
export function fill(template: string, values: Record<string, string | number>): string {
  return template.replace(/\{(\w+)\}/g, (whole, key: string) => (key in values ? String(values[key]) : whole));
}
