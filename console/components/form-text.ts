/** The text a submitted form's field holds: '' when the field is missing or holds a file instead. */
export function formText(data: FormData, name: string): string {
  const value = data.get(name);
  return typeof value === 'string' ? value : '';
}
