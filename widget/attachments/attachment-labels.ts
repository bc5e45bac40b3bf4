/** Words the attachment UI shows (English); the widget and the console pass their own where they have them. */
export interface AttachmentLabels {
  attach: string;
  /** The list of files waiting to be sent. */
  draft: string;
  /** Before a file's name on its Cancel/Remove button. */
  cancel: string;
  uploading: string;
  close: string;
  download: string;
  tooLarge: string;
  unsupported: string;
  uploadFailed: string;
  /** `{max}` is replaced by the most attachments a message may carry. */
  tooMany: string;
  dropHere: string;
}

/** The English labels. */
export const attachmentLabels: AttachmentLabels = {
  attach: 'Attach files',
  draft: 'Attachments',
  cancel: 'Cancel',
  uploading: 'Uploading',
  close: 'Close',
  download: 'Download',
  tooLarge: 'Too large to send',
  unsupported: 'This type of file cannot be sent (images, PDF and plain text only)',
  uploadFailed: 'Upload failed',
  tooMany: 'At most {max} files per message',
  dropHere: 'Drop files to attach',
};

/** A size as people read it: 820 B, 14 KB, 2.4 MB. */
export function formatSize(bytes: number, locale: string): string {
  // Intl's short "byte" reads "193 byte"; B, KB and MB are what file lists show.
  const [value, unit] = bytes < 1024 ? [bytes, 'B'] : bytes < 1024 * 1024 ? [bytes / 1024, 'KB'] : [bytes / 1024 / 1024, 'MB'];
  return `${new Intl.NumberFormat(locale || undefined, { maximumFractionDigits: value < 10 && unit !== 'B' ? 1 : 0 }).format(value)} ${unit}`;
}

/** A short type name for a file chip: PDF, TXT, PNG… */
export function typeLabel(type: string): string {
  if (type === 'text/plain') return 'TXT';
  const sub = type.split('/')[1] ?? '';
  return (sub || type).toUpperCase().slice(0, 8);
}
