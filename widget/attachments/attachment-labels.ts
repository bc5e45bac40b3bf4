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
  /** A file attached offline: it is uploaded with the message once the widget is back online. */
  waiting: string;
  /** `{max}` is replaced by the most attachments a message may carry. */
  tooMany: string;
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
  waiting: 'Sends when you are back online',
  tooMany: 'At most {max} files per message',
};

/** The labels in the widget's built-in languages besides English (others fall back to English). */
const translated: Readonly<Record<string, AttachmentLabels>> = {
  de: {
    attach: 'Dateien anhängen',
    draft: 'Anhänge',
    cancel: 'Abbrechen',
    uploading: 'Wird hochgeladen',
    close: 'Schließen',
    download: 'Herunterladen',
    tooLarge: 'Zu groß zum Senden',
    unsupported: 'Diese Art von Datei kann nicht gesendet werden (nur Bilder, PDF und Text)',
    uploadFailed: 'Hochladen fehlgeschlagen',
    waiting: 'Wird gesendet, sobald Sie wieder online sind',
    tooMany: 'Höchstens {max} Dateien pro Nachricht',
  },
  es: {
    attach: 'Adjuntar archivos',
    draft: 'Adjuntos',
    cancel: 'Cancelar',
    uploading: 'Subiendo',
    close: 'Cerrar',
    download: 'Descargar',
    tooLarge: 'Demasiado grande para enviar',
    unsupported: 'Este tipo de archivo no se puede enviar (solo imágenes, PDF y texto)',
    uploadFailed: 'No se pudo subir',
    waiting: 'Se enviará cuando vuelva la conexión',
    tooMany: 'Como máximo {max} archivos por mensaje',
  },
};

/** The labels for a BCP 47 language tag. */
export function labelsFor(locale: string): AttachmentLabels {
  return translated[locale.toLowerCase().split('-')[0] ?? ''] ?? attachmentLabels;
}

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
