/** A message's files as one line of text, where they are not shown themselves (inbox preview, plain bubble, announcement). */
export function attachmentsSummary(count: number, firstName: string): string {
  return `📎 ${firstName}${count > 1 ? ` +${count - 1}` : ''}`;
}
